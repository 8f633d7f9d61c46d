// Package qemu launches QEMU directly: a generic x86-64 launcher for any
// guest QEMU can boot from a multiboot kernel, the way Frost expects to
// find a VM. The gdbstub and QMP listen on unix sockets in a private 0700
// directory, guest RAM sits in a shared file under /dev/shm (mode 0600),
// and the serial console goes to a file beside the sockets. Stop removes
// all of it, whatever state Start or the guest reached.
//
// It knows nothing of any particular guest: a guest's own conventions (its
// boot options, disk images, what it prints on the serial port) belong to
// that guest's harness, which builds a Config and reads the files.
package qemu
