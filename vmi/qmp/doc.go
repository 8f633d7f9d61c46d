// Package qmp speaks QEMU's machine protocol (QMP): directly over QEMU's
// unix socket (Client), or through libvirt's monitor passthrough
// (Passthrough), with one typed command set (Monitor) over both.
//
// It also parses the HMP text Frost depends on: `info mtree -f` (the
// guest-physical map), `info ramblock` and `info registers` (for the
// descriptor tables the gdbstub does not expose).
//
// QMP is the slow path: a libvirt passthrough call costs 1-7 ms. Nothing
// here belongs on a per-read or per-breakpoint path.
package qmp
