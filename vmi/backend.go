package vmi

import "github.com/frostvmi/frost/vmi/physmem"

// MemoryKind names the data plane a Target reads guest-physical memory
// through.
type MemoryKind = physmem.Kind

const (
	// MemorySharedFile: QEMU's RAM is a shared file (memory-backend-file,
	// share=on), mapped read-only.
	MemorySharedFile = physmem.KindSharedFile
	// MemoryMemfd: QEMU's RAM is a memfd, mapped through /proc/<pid>/fd.
	MemoryMemfd = physmem.KindMemfd
	// MemoryProcMem: /proc/<pid>/mem at QEMU's mapping of RAM, verified
	// against the gdbstub.
	MemoryProcMem = physmem.KindProcMem
	// MemoryGDBStub: the gdbstub's physical mode, the slow last resort;
	// its reads need the guest stopped.
	MemoryGDBStub = physmem.KindReference
)

// MemoryBackender is a Target that can say how it reads guest-physical
// memory. Optional, like PhysicalMapper: a fake has no physmem to name.
type MemoryBackender interface {
	// MemoryBackend is the data plane's kind: the shared RAM file, a
	// memfd, /proc/<pid>/mem, or the gdbstub (the slow last resort an
	// operator wants to know about).
	MemoryBackend() MemoryKind
}

// MemoryBackend implements MemoryBackender.
func (g *guest) MemoryBackend() MemoryKind { return g.mem.Kind() }

var _ MemoryBackender = (*guest)(nil)
