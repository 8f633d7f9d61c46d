// Package libvirt finds and drives QEMU guests that libvirtd manages, with
// github.com/digitalocean/go-libvirt (libvirt's RPC protocol, no cgo):
// listing and looking up domains, their state, start (paused or not),
// suspend and resume, lifecycle and REBOOT events, QMP through libvirt's
// monitor passthrough, and attaching to a running domain by starting its
// gdbstub on a private unix socket.
//
// The RSP connection itself is vmi/gdbstub's job; guest memory is
// vmi/physmem's, fed with this package's QMP passthrough and QEMU pid.
package libvirt
