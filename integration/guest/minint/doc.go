// Package minint is the harness of mini-NT, the bundled Windows-like test
// guest: how to boot it (its loader options, its C: disk image, a libvirt
// domain for it) and how to read what it says (the frost-guest serial
// report, bugchecks included).
//
// It launches QEMU through vmi/qemu, the product's generic launcher, and
// adds only what is mini-NT's. Tests, benchmarks and the demo tool
// (cmd/minint) use it; the product never links it.
//
// The machine has two cores, and a TCG guest eats one, so every TCG boot
// holds a machine-wide lock (LockTCG) for its whole life.
package minint
