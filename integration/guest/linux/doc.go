// Package linuxguest is the harness of the Linux test guest: a stock
// Debian kernel and busybox, fetched as Debian packages at test time,
// booted under libvirt from an initramfs this package writes itself.
//
// It exists so that Frost's generic operations (attach, registers, raw
// breakpoints, page walks from a CR3, dumps) are tested on a real kernel
// that is not Windows. Nothing in it is built for Frost's benefit: the
// kernel is Debian's unsigned build of the linux-image-amd64 kernel, with
// its default mitigations; only `nokaslr` pins its addresses, which the
// guest prints anyway from /proc/kallsyms (Debian's System.map is a
// stub).
//
// The pieces, one file each:
//   - fetch.go: resolve and `apt-get download` the packages into a cache
//     that outlives checkouts (DefaultCacheDir);
//   - extract.go: take the kernel image and busybox out of the packages,
//     files.go: Fetch, which does both and keeps the results beside the
//     packages;
//   - cpio.go: a newc cpio writer, initramfs.go: the initramfs, init.go:
//     the guest's /init and its two processes (a writer of counted lines,
//     and noise);
//   - report.go: the serial report's parser;
//   - domain.go: the libvirt domain that boots it.
//
// Tests and benchmarks use it; the product never links it.
package linuxguest
