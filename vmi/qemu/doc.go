// Package qemu launches QEMU directly, for tests and the demo.
//
// Today it boots the bundled mini-NT guest (integration/guest) the way the
// daemon will later expect to find a VM: the gdbstub and QMP on unix sockets
// in a private 0700 directory, guest RAM in a shared file under /dev/shm,
// the serial console in a file, and the guest's C: disk beside them. Stop
// removes all of it, whatever state Start or the guest reached.
//
// The machine has two cores, and a TCG guest eats one, so every TCG launch
// holds a machine-wide lock (LockTCG) for its whole life.
package qemu
