package physmem

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frostvmi/frost/vmi/qmp"
)

// Range is guest RAM at [GPA, GPA+Size) held at [Offset, Offset+Size) of
// the RAM block, which is also the offset in the RAM file.
type Range struct {
	GPA    uint64
	Size   uint64
	Offset uint64
	// ReadOnly: the guest sees the whole range read-only (the BIOS
	// shadow). A range merged from read-only and writable pieces is not.
	ReadOnly bool
}

// Map translates guest-physical addresses to offsets in the one RAM block
// that holds guest RAM. QEMU's map changes while the guest runs (the
// firmware turns the i440fx PAM window 0xc0000-0xfffff from ROM into RAM,
// a reset turns it back, memory is hot-plugged), so a Map built from the
// monitor can be re-read (Reread); every reader that holds the Map sees
// the new one at once. The RAM block itself, which the data plane has
// mapped, stays the one of the first read.
type Map struct {
	block     string
	blockSize uint64
	cur       atomic.Pointer[mapState]

	// reread reads QEMU's view afresh; nil for a map built by hand, which
	// stays as it is.
	reread func(ctx context.Context) (*qmp.FlatView, error)
	mu     sync.Mutex // serializes re-reads and guards last
	last   time.Time  // the last re-read, for missRereadInterval
	now    func() time.Time
}

// mapState is one reading of QEMU's map.
type mapState struct {
	ranges []Range // sorted by GPA, disjoint, adjacent pieces merged
	view   *qmp.FlatView
}

// A read that falls outside guest RAM re-reads the map once before it
// fails, since the hole may be RAM by now; at most once per
// missRereadInterval, so that a client probing MMIO or a page walk
// through garbage costs one monitor round trip (1-7 ms through libvirt)
// per interval, not one per read. Each is bounded by missRereadTimeout.
const (
	missRereadInterval = time.Second
	missRereadTimeout  = 10 * time.Second
)

// NewMap builds the map of block from QEMU's system FlatView: every range
// the view maps to block (read-write or read-only) is guest RAM; the rest
// is not. The map is fixed: Reread leaves it as it is.
func NewMap(view *qmp.FlatView, block qmp.RAMBlock) (*Map, error) {
	if block.Used == 0 {
		return nil, &MapError{Msg: fmt.Sprintf("RAM block %q is empty", block.Name)}
	}
	st, err := newMapState(view, block.Name, block.Used)
	if err != nil {
		return nil, err
	}
	m := &Map{block: block.Name, blockSize: block.Used, now: time.Now}
	m.cur.Store(st)
	return m, nil
}

// newMapState picks from view the ranges of the RAM block named block,
// checks them and merges the adjacent ones.
func newMapState(view *qmp.FlatView, block string, blockSize uint64) (*mapState, error) {
	var ranges []Range
	for _, r := range view.Ranges {
		if r.Region != block || !r.IsRAM() {
			continue
		}
		size := r.Len()
		if size == 0 || r.Offset >= blockSize || size > blockSize-r.Offset {
			return nil, &MapError{Msg: fmt.Sprintf("range %#x-%#x at offset %#x leaves RAM block %q (%#x bytes)",
				r.Start, r.Last, r.Offset, block, blockSize)}
		}
		ranges = append(ranges, Range{GPA: r.Start, Size: size, Offset: r.Offset, ReadOnly: r.Type == "rom"})
	}
	if len(ranges) == 0 {
		return nil, &MapError{Msg: fmt.Sprintf("no guest-physical range maps RAM block %q", block)}
	}
	// The view is sorted and disjoint (ParseMemoryTree checks), and so is
	// any subset of it; check anyway, as a view may be built by hand.
	for i := 1; i < len(ranges); i++ {
		if a, b := ranges[i-1], ranges[i]; b.GPA < a.GPA || b.GPA-a.GPA < a.Size {
			return nil, &MapError{Msg: fmt.Sprintf("ranges at %#x and %#x overlap or are out of order", a.GPA, b.GPA)}
		}
	}
	return &mapState{ranges: Merge(ranges), view: view}, nil
}

// Merge joins ranges that follow each other both in guest-physical
// addresses and in the RAM block, whatever their access: QEMU splits the
// BIOS shadow into read-only and writable pieces as the firmware locks
// them, but a reader sees one stretch of RAM, and a read across it is one
// copy. rs must be sorted by GPA; the result is a new slice.
func Merge(rs []Range) []Range {
	out := make([]Range, 0, len(rs))
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.GPA+last.Size == r.GPA && last.Offset+last.Size == r.Offset && last.GPA+last.Size != 0 {
				last.Size += r.Size
				last.ReadOnly = last.ReadOnly && r.ReadOnly
				continue
			}
		}
		out = append(out, r)
	}
	return out
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
// and builds the Map of guest RAM, which Reread reads again through mon.
func MapFromMonitor(ctx context.Context, mon *qmp.Monitor) (*Map, error) {
	view, err := systemView(ctx, mon)
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
	m, err := NewMap(view, block)
	if err != nil {
		return nil, err
	}
	m.reread = func(ctx context.Context) (*qmp.FlatView, error) { return systemView(ctx, mon) }
	m.last = m.now()
	return m, nil
}

func systemView(ctx context.Context, mon *qmp.Monitor) (*qmp.FlatView, error) {
	views, err := mon.MemoryTree(ctx)
	if err != nil {
		return nil, err
	}
	return qmp.SystemView(views)
}

// Reread reads QEMU's map again and makes it the one reads go through.
// It fails, keeping the map it had, if QEMU cannot be asked or its new map
// no longer fits the RAM block read at first (then the data plane's
// mapping is of the wrong block, and only a new attach can tell). On a
// map built by hand (NewMap) it does nothing.
func (m *Map) Reread(ctx context.Context) error {
	if m.reread == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rereadLocked(ctx)
}

func (m *Map) rereadLocked(ctx context.Context) error {
	view, err := m.reread(ctx)
	if err != nil {
		return fmt.Errorf("physmem: re-reading the guest-physical map: %w", err)
	}
	st, err := newMapState(view, m.block, m.blockSize)
	if err != nil {
		return err
	}
	m.cur.Store(st)
	m.last = m.now()
	return nil
}

// rereadAfterMiss re-reads the map after a lookup in seen missed, unless
// another re-read came after seen or one came less than
// missRereadInterval ago. It says whether the map may have changed since
// seen, i.e. whether a second lookup is worth it.
func (m *Map) rereadAfterMiss(seen *mapState) bool {
	if m.reread == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur.Load() != seen {
		return true
	}
	if m.now().Sub(m.last) < missRereadInterval {
		return false
	}
	// The read that missed carries no context (Translate has none, and the
	// io.ReaderAt path neither): the wait is bounded here instead.
	ctx, cancel := context.WithTimeout(context.Background(), missRereadTimeout)
	defer cancel()
	if err := m.rereadLocked(ctx); err != nil {
		// The miss is reported as it was; the next one may try again.
		m.last = m.now()
		return false
	}
	return true
}

// Block is the RAM block's name: the memory backend's id ("mem",
// "pc.ram"), which is also how QOM names the backend object.
func (m *Map) Block() string { return m.block }

// BlockSize is the RAM block's size: the length of the RAM file.
func (m *Map) BlockSize() uint64 { return m.blockSize }

// Ranges lists guest RAM in address order, as of the last reading:
// pieces that follow each other in both the address space and the RAM
// block are one range.
func (m *Map) Ranges() []Range { return append([]Range(nil), m.cur.Load().ranges...) }

// End is one past the highest guest RAM address; 0 stands for 2^64.
func (m *Map) End() uint64 {
	rs := m.cur.Load().ranges
	last := rs[len(rs)-1]
	return last.GPA + last.Size
}

// Translate returns the block offset of gpa and how many bytes from there
// on stay in the same range (and so are contiguous in the block). An
// address outside guest RAM re-reads the map once (see
// missRereadInterval) before it fails with a *NotRAMError.
func (m *Map) Translate(gpa uint64) (off, n uint64, err error) {
	st := m.cur.Load()
	if off, n, ok := st.translate(gpa); ok {
		return off, n, nil
	}
	if m.rereadAfterMiss(st) {
		st = m.cur.Load()
		if off, n, ok := st.translate(gpa); ok {
			return off, n, nil
		}
	}
	return 0, 0, &NotRAMError{GPA: gpa, What: st.describe(gpa, m.block)}
}

func (st *mapState) translate(gpa uint64) (off, n uint64, ok bool) {
	rs := st.ranges
	i := sort.Search(len(rs), func(i int) bool {
		r := rs[i]
		return r.GPA+r.Size-1 >= gpa
	})
	if i < len(rs) && rs[i].GPA <= gpa {
		r := rs[i]
		d := gpa - r.GPA
		return r.Offset + d, r.Size - d, true
	}
	return 0, 0, false
}

// describe says what QEMU's map holds at a GPA that is not guest RAM.
func (st *mapState) describe(gpa uint64, block string) string {
	last := st.ranges[len(st.ranges)-1]
	end := last.GPA + last.Size
	r, ok := st.view.Lookup(gpa)
	switch {
	case !ok && end != 0 && gpa >= end:
		return fmt.Sprintf("past the end of RAM at %#x", end)
	case !ok:
		return "unmapped"
	case r.Region == block:
		return fmt.Sprintf("%s range of the RAM block, not mapped as RAM", r.Type)
	default:
		return fmt.Sprintf("%s region %q", r.Type, r.Region)
	}
}
