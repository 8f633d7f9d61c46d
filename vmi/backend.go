package vmi

import "github.com/frostvmi/frost/vmi/physmem"

// MemoryBackender is a Target that can say how it reads guest-physical
// memory. Optional, like PhysicalMapper: a fake has no physmem to name.
type MemoryBackender interface {
	// MemoryBackend is the data plane's kind: the shared RAM file, a
	// memfd, /proc/<pid>/mem, or the gdbstub (the slow last resort an
	// operator wants to know about).
	MemoryBackend() physmem.Kind
}

// MemoryBackend implements MemoryBackender.
func (g *guest) MemoryBackend() physmem.Kind { return g.mem.Kind() }

var _ MemoryBackender = (*guest)(nil)
