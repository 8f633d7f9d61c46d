package vmi

import (
	"context"

	"github.com/frostvmi/frost/vmi/physmem"
)

// PhysicalRange is one piece of guest RAM: [GPA, GPA+Size), ReadOnly when
// the guest sees it so (the BIOS shadow). Offset is where it sits in
// QEMU's RAM block (and RAM file).
type PhysicalRange = physmem.Range

// PhysicalMapper is a Target that can list where guest RAM is. It is an
// optional interface, not part of Target, so that test fakes and future
// targets with no physmem underneath need not invent a map; callers
// (a full memory dump) check for it.
type PhysicalMapper interface {
	// PhysicalMap lists guest RAM in address order, as QEMU's flat view
	// showed it at the last reading (holes and device memory excluded;
	// adjacent pieces merged). It is a copy: the caller may keep it.
	PhysicalMap() []PhysicalRange
}

// PhysicalMapRereader is a PhysicalMapper whose map can be read afresh
// from QEMU. QEMU's map changes under a running guest (at power-on the
// PAM window below 1 MiB is the BIOS ROM; the firmware maps RAM there), so
// a map read at attach goes stale. (A warm reset keeps the firmware's PAM
// setting: measured on QEMU 7.2's i440fx, system_reset after boot leaves
// the window as read-only RAM.) A caller about to rely on the whole map (a
// dump) re-reads it first; reads in a hole re-read it by themselves.
type PhysicalMapRereader interface {
	PhysicalMapper
	// RereadPhysicalMap reads QEMU's map again; every later read,
	// PhysicalMap and ReadPhysical alike, goes through the new one. On
	// failure the map stays as it was.
	RereadPhysicalMap(ctx context.Context) error
}

// PhysicalMap returns the map the data plane reads through, so a dump
// reads exactly what ReadPhysical can serve.
func (g *guest) PhysicalMap() []PhysicalRange { return g.mem.Map().Ranges() }

// RereadPhysicalMap re-reads the map the data plane reads through.
func (g *guest) RereadPhysicalMap(ctx context.Context) error {
	return g.wrap("re-reading the guest-physical map", g.mem.Map().Reread(ctx))
}

var _ PhysicalMapRereader = (*guest)(nil)
