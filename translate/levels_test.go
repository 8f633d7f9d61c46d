package translate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

var tableLevels = []Level{LevelPML4E, LevelPDPTE, LevelPDE}
var allLevels = []Level{LevelPML4E, LevelPDPTE, LevelPDE, LevelPTE}

// pageOut replaces va's entry at level, which must be valid, by an invalid
// entry v(pfn) naming the same page, stored swizzled. It returns the page.
func pageOut(g *guest, level Level, v func(pfn uint64) uint64) uint64 {
	pa := g.b.entryPA(g.dtb, g.va, level)
	page := g.b.l.PageFrameNumber.Get(g.b.mem.read64(pa)) << pageShift
	g.b.mem.write64(pa, g.b.swizzle(v(page>>pageShift)))
	return page
}

// moveToPagefile copies the page at pa into a paging file at page offset
// off and poisons the frame, as mini-NT's modified page writer does.
func moveToPagefile(g *guest, n, off, pa uint64, virtualStore bool) {
	pf := g.b.pagefiles[n]
	f, _ := pf.Data.(sparseFile)
	if f == nil {
		f = sparseFile{}
	}
	content := make([]byte, pageSize)
	g.b.mem.ReadAt(content, int64(pa))
	f[off] = content
	poison := make([]byte, pageSize)
	for i := 0; i < pageSize; i += 4 {
		binary.LittleEndian.PutUint32(poison[i:], 0xBAADF00D)
	}
	g.b.mem.write(pa, poison)
	g.b.pagefiles[n] = Pagefile{Data: f, VirtualStore: virtualStore}
}

// TestPagedOutTables: a PML4E, PDPTE or PDE in transition or in a paging
// file keeps the walk going through the page it names.
func TestPagedOutTables(t *testing.T) {
	type outcome struct {
		err      error // translation error, or nil: the page is served
		pagefile bool  // the failing read is in a paging file
	}
	cases := []struct {
		name string
		out  func(g *guest, level Level)
		want outcome
	}{
		{"transition", func(g *guest, level Level) {
			pageOut(g, level, func(pfn uint64) uint64 { return g.b.transition(pfn, 4) })
		}, outcome{}},
		{"pagefile", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(1, 0x20+uint64(level), 4) })
			moveToPagefile(g, 1, 0x20+uint64(level), pa, false)
		}, outcome{}},
		{"pagefile with the mask bit", func(g *guest, level Level) {
			off := uint64(1)<<13 | uint64(level)
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(1, off, 4) })
			moveToPagefile(g, 1, off, pa, false)
		}, outcome{}},
		{"pagefile, not supplied", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(1, 0x20, 4) })
			moveToPagefile(g, 1, 0x20, pa, false)
			g.b.pagefiles[1] = Pagefile{}
		}, outcome{ErrPagefileNotSupplied, true}},
		{"virtual store", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(3, 0x20, 4) })
			moveToPagefile(g, 3, 0x20, pa, true)
		}, outcome{ErrCompressed, true}},
	}
	for _, w := range widths {
		for _, sw := range swizzles {
			for _, level := range tableLevels {
				for _, c := range cases {
					t.Run(fmt.Sprintf("%d/%s/%s/%s", w, sw.name, level, c.name), func(t *testing.T) {
						g := newGuest(t, w, sw.mask)
						pa := g.dataPage(0)
						g.b.mapPage(g.dtb, g.va, pa)
						c.out(g, level)
						tr := g.b.translator(sw.mask)
						loc, err := tr.Translate(g.dtb, g.va)
						if c.want.err != nil {
							var re *ReadError
							if !errors.Is(err, c.want.err) || !errors.As(err, &re) || (re.At.Space == SpacePagefile) != c.want.pagefile {
								t.Fatalf("Translate = %+v, %v; want a ReadError wrapping %v\n%s", loc, err, c.want.err, tr.Vtop(g.dtb, g.va))
							}
							if loc.State != StateUnknown {
								t.Errorf("state %s, want Unknown", loc.State)
							}
							return
						}
						if err != nil || loc.State != StateValid || loc.Addr != pa {
							t.Fatalf("Translate = %+v, %v; want Valid @ 0x%x\n%s", loc, err, pa, tr.Vtop(g.dtb, g.va))
						}
						buf := make([]byte, pageSize)
						if res := tr.ReadVirtual(g.dtb, g.va, buf); res.Err() != nil || !bytes.Equal(buf, pattern(0)) {
							t.Fatalf("ReadVirtual: %v", res.Err())
						}
					})
				}
			}
		}
	}
}

// TestPagedOutTwice: the page directory is in the paging file, and the page
// table it names is in transition.
func TestPagedOutTwice(t *testing.T) {
	g := newGuest(t, 36, mask46)
	pa := g.dataPage(0)
	g.b.mapPage(g.dtb, g.va, pa)
	pt := pageOut(g, LevelPDE, func(pfn uint64) uint64 { return g.b.transition(pfn, 4) })
	pd := pageOut(g, LevelPDPTE, func(uint64) uint64 { return g.b.pagefile(1, 0x99, 4) })
	moveToPagefile(g, 1, 0x99, pd, false)
	tr := g.b.translator(mask46)
	p := tr.Vtop(g.dtb, g.va)
	if p.Err != nil || p.Location.Addr != pa {
		t.Fatalf("Vtop = %+v, %v\n%s", p.Location, p.Err, p)
	}
	want := []Where{{Space: SpacePhysical}, {Space: SpacePhysical}, {Space: SpacePagefile, Pagefile: 1, Addr: 0x99000 + ((g.va>>21)&511)*8}, {Space: SpacePhysical, Addr: pt + ((g.va>>12)&511)*8}}
	var got []Where
	for _, s := range p.Steps {
		if s.Level >= LevelPML4E && s.Level <= LevelPTE {
			got = append(got, s.At)
		}
	}
	if len(got) != 4 || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("entries read at %v, want the PDE from %v and the PTE from %v\n%s", got, want[2], want[3], p)
	}
}

// TestInvalidAtEveryLevel decodes each software state as a PML4E, PDPTE,
// PDE and PTE, swizzled and plain, under a committed private VAD whose
// protection (6) differs from the entries' (4), so the test sees who
// decided.
func TestInvalidAtEveryLevel(t *testing.T) {
	type want struct {
		state State
		prot  uint64
		err   error
	}
	cases := []struct {
		name  string
		entry func(b *builder) uint64
		leaf  want // as a PTE
		table want // as a PML4E, PDPTE or PDE
		noVAD bool
	}{
		{"zero", func(*builder) uint64 { return 0 }, want{StateDemandZero, 6, nil}, want{StateDemandZero, 6, nil}, false},
		{"zero, no VAD", func(*builder) uint64 { return 0 }, want{StateNotMapped, 0, nil}, want{StateNotMapped, 0, nil}, true},
		// Protection 4 sets bit 7, LargePage's bit: in an invalid entry it
		// is only Protection.
		{"demand-zero", func(b *builder) uint64 { return b.demandZero(4) }, want{StateDemandZero, 4, nil}, want{StateDemandZero, 6, nil}, false},
		{"decommitted", func(b *builder) uint64 { return b.demandZero(mmDecommit) }, want{StateDecommitted, mmDecommit, nil}, want{StateDecommitted, mmDecommit, nil}, false},
		{"pagefile, not supplied", func(b *builder) uint64 { return b.pagefile(5, 0x40, 4) }, want{StatePagefile, 4, nil}, want{StateUnknown, 0, ErrPagefileNotSupplied}, false},
		{"prototype", func(b *builder) uint64 { return b.protoPointer(pagedVA) }, want{StateUnknown, 0, nil}, want{StateUnknown, 0, &EntryError{}}, false},
	}
	for _, w := range widths {
		for _, sw := range swizzles {
			for _, level := range allLevels {
				for _, c := range cases {
					if c.name == "prototype" && level == LevelPTE {
						continue // covered by TestRows
					}
					t.Run(fmt.Sprintf("%d/%s/%s/%s", w, sw.name, level, c.name), func(t *testing.T) {
						g := newGuest(t, w, sw.mask)
						if !c.noVAD {
							g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 1<<40, Private: true, MemCommit: true, Protection: 6})
						}
						g.b.setInvalid(g.dtb, g.va, level, c.entry(g.b))
						tr := g.b.translator(sw.mask)
						loc, err := tr.Translate(g.dtb, g.va)
						wt := c.table
						if level == LevelPTE {
							wt = c.leaf
						}
						var ee *EntryError
						switch {
						case errors.As(wt.err, &ee):
							if !errors.As(err, &ee) {
								t.Fatalf("Translate = %+v, %v; want an EntryError\n%s", loc, err, tr.Vtop(g.dtb, g.va))
							}
						case wt.err != nil:
							if !errors.Is(err, wt.err) {
								t.Fatalf("Translate = %+v, %v; want %v\n%s", loc, err, wt.err, tr.Vtop(g.dtb, g.va))
							}
						case err != nil || loc.State != wt.state || loc.Protection != wt.prot:
							t.Fatalf("Translate = %+v, %v; want %s, Protection %d\n%s", loc, err, wt.state, wt.prot, tr.Vtop(g.dtb, g.va))
						}
					})
				}
			}
		}
	}
}

// TestPrototypePoolPage: the paged-pool page that holds a prototype PTE is
// itself in transition, or in a paging file.
func TestPrototypePoolPage(t *testing.T) {
	for _, sw := range swizzles {
		for _, where := range []string{"transition", "pagefile"} {
			t.Run(sw.name+"/"+where, func(t *testing.T) {
				g := newGuest(t, 36, sw.mask)
				data := g.dataPage(0)
				proto := g.protoSlot(9, g.b.transition(data>>pageShift, 3))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(proto))
				// The kernel PTE of the pool page leaves the working set.
				kpte := g.b.entryPA(g.dtb, g.pool, LevelPTE)
				switch where {
				case "transition":
					g.b.mem.write64(kpte, g.b.swizzle(g.b.transition(g.poolPA>>pageShift, 4)))
				case "pagefile":
					g.b.mem.write64(kpte, g.b.swizzle(g.b.pagefile(1, 0x77, 4)))
					moveToPagefile(g, 1, 0x77, g.poolPA, false)
				}
				tr := g.b.translator(sw.mask)
				p := tr.Vtop(g.dtb, g.va)
				if p.Err != nil || p.Location.State != StateTransition || p.Location.Addr != data || p.Location.PrototypePTE != proto {
					t.Fatalf("Vtop = %+v, %v\n%s", p.Location, p.Err, p)
				}
				var protoStep *Step
				for i := range p.Steps {
					if p.Steps[i].Level == LevelPrototype {
						protoStep = &p.Steps[i]
					}
				}
				wantAt := Where{Space: SpacePhysical, Addr: g.poolPA + 9*8}
				if where == "pagefile" {
					wantAt = Where{Space: SpacePagefile, Pagefile: 1, Addr: 0x77000 + 9*8}
				}
				if protoStep == nil || protoStep.At != wantAt || protoStep.VA != proto {
					t.Fatalf("prototype PTE step %+v, want read at %v\n%s", protoStep, wantAt, p)
				}
				if where == "pagefile" {
					// Without the paging file the prototype PTE is out of
					// reach, and the reply says where it is.
					g.b.pagefiles[1] = Pagefile{}
					_, err := g.b.translator(sw.mask).Translate(g.dtb, g.va)
					var re *ReadError
					if !errors.Is(err, ErrPagefileNotSupplied) || !errors.As(err, &re) || re.What != "prototype PTE" {
						t.Fatalf("without the paging file: %v", err)
					}
				}
			})
		}
	}
}

// TestPFNWidth: bits 48..51 are PFN on Windows 11 and not on Windows 10.
func TestPFNWidth(t *testing.T) {
	raw := uint64(0xF<<48 | 0x1234<<12 | 1<<11 | 4<<5) // transition
	for _, c := range []struct {
		width uint
		pfn   uint64
	}{{36, 0x1234}, {40, 0xF<<36 | 0x1234}} {
		d := newDecoder(testLayout(c.width), 0)
		if e := d.decode(raw, false); e.kind != KindTransition || e.pfn != c.pfn {
			t.Errorf("width %d: %+v, want PFN 0x%x", c.width, e, c.pfn)
		}
		if e := d.decode(raw|1, false); e.kind != KindValid || e.pfn != c.pfn {
			t.Errorf("width %d valid: %+v, want PFN 0x%x", c.width, e, c.pfn)
		}
	}
}

// TestValidEntryNotUnswizzled: a valid entry whose frame has the mask bit
// keeps it.
func TestValidEntryNotUnswizzled(t *testing.T) {
	g := newGuest(t, 36, mask46)
	pa := uint64(1)<<45 | 0x5000
	g.b.mapPage(g.dtb, g.va, pa)
	loc, err := g.b.translator(mask46).Translate(g.dtb, g.va)
	if err != nil || loc.Addr != pa {
		t.Fatalf("Translate = %+v, %v; want 0x%x", loc, err, pa)
	}
}
