// Package physmem reads guest-physical memory: the data plane.
//
// One Memory serves reads from one of three backends, chosen best first
// by Open:
//
//  1. the shared RAM file or memfd that backs guest RAM, mapped read-only
//     (GB/s, and the guest keeps running);
//  2. /proc/<qemu-pid>/mem, for guests without shared RAM, at a mapping
//     verified page by page against a Reference reader before it is
//     trusted;
//  3. the Reference reader itself (the gdbstub in physical mode), slow
//     but always there.
//
// Every backend translates through the same Map, built from QEMU's own
// guest-physical map (`info mtree -f`), so RAM above 4 GiB and the holes
// below it are handled once. A read that touches an address which is not
// guest RAM fails with a *NotRAMError naming the first such address; it
// never returns zeros for it.
//
// physmem never writes. Writes go through QEMU (gdbstub M with the guest
// stopped) so that TCG's translated code and dirty tracking see them.
package physmem
