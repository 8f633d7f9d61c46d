// Package integration holds Frost's end-to-end tests: they boot the bundled
// mini-NT guest (integration/guest) under real QEMU and a real libvirtd and
// check what the guest reports against what Frost will read.
//
// The tests skip when QEMU or the guest build is missing, unless
// FROST_REQUIRE_INTEGRATION is set (make test sets it), in which case they
// fail: CI must never pass by skipping. Every TCG boot holds the
// machine-wide TCG lock, so they run one at a time even across packages.
package integration
