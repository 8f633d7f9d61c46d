package vmi

import "github.com/frostvmi/frost/vmi/physmem"

// PhysicalMapper is a Target that can list where guest RAM is. It is an
// optional interface, not part of Target, so that test fakes and future
// targets with no physmem underneath need not invent a map; callers
// (a full memory dump) check for it.
type PhysicalMapper interface {
	// PhysicalMap lists guest RAM in address order, as QEMU's flat view
	// showed it at attach (holes and device memory excluded). It is a
	// copy: the caller may keep it.
	PhysicalMap() []physmem.Range
}

// PhysicalMap returns the map the data plane reads through, so a dump
// reads exactly what ReadPhysical can serve.
func (g *guest) PhysicalMap() []physmem.Range { return g.mem.Map().Ranges() }

var _ PhysicalMapper = (*guest)(nil)
