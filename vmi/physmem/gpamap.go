package physmem

import (
	"context"
	"fmt"
	"sort"

	"github.com/frostvmi/frost/vmi/qmp"
)

// Range is guest RAM at [GPA, GPA+Size) held at [Offset, Offset+Size) of
// the RAM block, which is also the offset in the RAM file.
type Range struct {
	GPA      uint64
	Size     uint64
	Offset   uint64
	ReadOnly bool // mapped read-only for the guest (the BIOS shadow)
}

// Map translates guest-physical addresses to offsets in the one RAM block
// that holds guest RAM. It is a snapshot of QEMU's map: rebuild it after
// a reset or a memory hotplug.
type Map struct {
	block     string
	blockSize uint64
	ranges    []Range // sorted by GPA, disjoint
	view      *qmp.FlatView
}

// NewMap builds the map of block from QEMU's system FlatView: every range
// the view maps to block (read-write or read-only) is guest RAM; the rest
// is not.
func NewMap(view *qmp.FlatView, block qmp.RAMBlock) (*Map, error) {
	if block.Used == 0 {
		return nil, &MapError{Msg: fmt.Sprintf("RAM block %q is empty", block.Name)}
	}
	m := &Map{block: block.Name, blockSize: block.Used, view: view}
	for _, r := range view.Ranges {
		if r.Region != block.Name || !r.IsRAM() {
			continue
		}
		size := r.Len()
		if size == 0 || r.Offset >= block.Used || size > block.Used-r.Offset {
			return nil, &MapError{Msg: fmt.Sprintf("range %#x-%#x at offset %#x leaves RAM block %q (%#x bytes)",
				r.Start, r.Last, r.Offset, block.Name, block.Used)}
		}
		m.ranges = append(m.ranges, Range{GPA: r.Start, Size: size, Offset: r.Offset, ReadOnly: r.Type == "rom"})
	}
	if len(m.ranges) == 0 {
		return nil, &MapError{Msg: fmt.Sprintf("no guest-physical range maps RAM block %q", block.Name)}
	}
	// The view is sorted and disjoint (ParseMemoryTree checks), and so is
	// any subset of it; check anyway, as a Map may be built by hand.
	for i := 1; i < len(m.ranges); i++ {
		if a, b := m.ranges[i-1], m.ranges[i]; b.GPA < a.GPA || b.GPA-a.GPA < a.Size {
			return nil, &MapError{Msg: fmt.Sprintf("ranges at %#x and %#x overlap or are out of order", a.GPA, b.GPA)}
		}
	}
	return m, nil
}

// GuestRAMBlock picks the RAM block that holds guest RAM: the one behind
// the lowest-addressed "ram" range of the system view (on a PC, RAM
// starts at 0; device RAM such as vga.vram sits high). It must be one of
// blocks, which `info ramblock` lists.
func GuestRAMBlock(view *qmp.FlatView, blocks []qmp.RAMBlock) (qmp.RAMBlock, error) {
	for _, r := range view.Ranges {
		if r.Type != "ram" {
			continue
		}
		for _, b := range blocks {
			if b.Name == r.Region {
				return b, nil
			}
		}
		return qmp.RAMBlock{}, &MapError{Msg: fmt.Sprintf("region %q maps RAM at %#x but info ramblock has no such block", r.Region, r.Start)}
	}
	return qmp.RAMBlock{}, &MapError{Msg: "the system view maps no RAM"}
}

// MapFromMonitor asks QEMU for its map (`info mtree -f`, `info ramblock`)
// and builds the Map of guest RAM.
func MapFromMonitor(ctx context.Context, mon *qmp.Monitor) (*Map, error) {
	views, err := mon.MemoryTree(ctx)
	if err != nil {
		return nil, err
	}
	view, err := qmp.SystemView(views)
	if err != nil {
		return nil, err
	}
	blocks, err := mon.RAMBlocks(ctx)
	if err != nil {
		return nil, err
	}
	block, err := GuestRAMBlock(view, blocks)
	if err != nil {
		return nil, err
	}
	return NewMap(view, block)
}

// Block is the RAM block's name: the memory backend's id ("mem",
// "pc.ram"), which is also how QOM names the backend object.
func (m *Map) Block() string { return m.block }

// BlockSize is the RAM block's size: the length of the RAM file.
func (m *Map) BlockSize() uint64 { return m.blockSize }

// Ranges lists guest RAM in address order.
func (m *Map) Ranges() []Range { return append([]Range(nil), m.ranges...) }

// End is one past the highest guest RAM address.
func (m *Map) End() uint64 {
	last := m.ranges[len(m.ranges)-1]
	return last.GPA + last.Size
}

// Translate returns the block offset of gpa and how many bytes from there
// on stay in the same range (and so are contiguous in the block).
func (m *Map) Translate(gpa uint64) (off, n uint64, err error) {
	i := sort.Search(len(m.ranges), func(i int) bool {
		r := m.ranges[i]
		return r.GPA+r.Size-1 >= gpa
	})
	if i < len(m.ranges) && m.ranges[i].GPA <= gpa {
		r := m.ranges[i]
		d := gpa - r.GPA
		return r.Offset + d, r.Size - d, nil
	}
	return 0, 0, &NotRAMError{GPA: gpa, What: m.describe(gpa)}
}

// describe says what QEMU's map holds at a GPA that is not guest RAM.
func (m *Map) describe(gpa uint64) string {
	r, ok := m.view.Lookup(gpa)
	switch {
	case !ok && gpa >= m.End():
		return fmt.Sprintf("past the end of RAM at %#x", m.End())
	case !ok:
		return "unmapped"
	case r.Region == m.block:
		return fmt.Sprintf("%s range of the RAM block, not mapped as RAM", r.Type)
	default:
		return fmt.Sprintf("%s region %q", r.Type, r.Region)
	}
}
