package translate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// widths are the two PFN widths: Windows 10 (bits 12..47) and Windows 11
// (bits 12..51).
var widths = []uint{36, 40}

// swizzles are the two ways a guest stores invalid entries: swizzled with
// the 46-bit mask (L1TF mitigation on), and plain (mask 0).
var swizzles = []struct {
	name string
	mask uint64
}{{"swizzled", mask46}, {"plain", 0}}

// highPFN is a frame number that needs the full width: bit 35 (Windows 10)
// or bit 39 (Windows 11), far above the swizzle bit.
func highPFN(width uint) uint64 { return 1<<(width-1) | 0x123 }

func TestSeedExample(t *testing.T) {
	// The seed's example: on a CPU with 46 physical bits, 0x000020000891F860
	// is a transition PTE for PFN 0x891F, Protect 3 (ExecuteRead).
	const raw = 0x000020000891F860
	for _, w := range widths {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			l := testLayout(w)
			d := newDecoder(l, mask46)
			e := d.decode(raw, false)
			if e.kind != KindTransition || e.pfn != 0x891F || e.protection != 3 || e.cleared != mask46 {
				t.Fatalf("decode(0x%x) = %+v, want transition PFN 0x891F Protection 3 with the mask removed", uint64(raw), e)
			}
			if got := ProtectionString(e.protection); got != "ExecuteRead" {
				t.Errorf("ProtectionString(3) = %q", got)
			}

			b := newBuilder(t, l, mask46)
			dtb := b.newDTB()
			va := uint64(0x7ff612340000)
			b.set(dtb, va, LevelPTE, raw)
			tr := b.translator(mask46)
			loc, err := tr.Translate(dtb, va+0x860)
			if err != nil {
				t.Fatal(err)
			}
			want := Location{State: StateTransition, Addr: 0x891F860, PageSize: pageSize, Protection: 3}
			if loc != want {
				t.Errorf("Translate = %+v, want %+v", loc, want)
			}
			vtop := tr.Vtop(dtb, va).String()
			for _, s := range []string{
				"pte@ ", "= 0x000020000891f860",
				"swizzle mask 0x200000000000 removed: 0x000000000891f860",
				"[_MMPTE_TRANSITION] Transition PFN 0x891f Protection 3 (ExecuteRead)",
				"Physical Address 0x891f000 (transition)",
			} {
				if !strings.Contains(vtop, s) {
					t.Errorf("vtop lacks %q:\n%s", s, vtop)
				}
			}
		})
	}
}

// row is one case of the decoding table: set up the PTE (or more) for va,
// then expect a location and a read outcome.
type row struct {
	name  string
	setup func(g *guest) // writes the entries for g.va
	want  func(g *guest) Location
	data  func(g *guest) []byte // the page's bytes when served
	err   error                 // the read's error when not served
}

// guest is one synthetic guest under construction, for one row.
type guest struct {
	t     *testing.T
	b     *builder
	width uint
	dtb   uint64
	va    uint64
	// pool is a paged-pool page of prototype PTEs, subs a nonpaged-pool
	// page for subsections: mini-NT's addresses.
	pool, subs uint64
	poolPA     uint64
}

const (
	userVA   = uint64(0x40000000)
	viewVA   = uint64(0x7ff600000000)
	pagedVA  = uint64(0xffffa00020000000)
	nonpaged = uint64(0xffffa00000000000)
)

func newGuest(t *testing.T, width uint, mask uint64) *guest {
	b := newBuilder(t, testLayout(width), mask)
	g := &guest{t: t, b: b, width: width, dtb: b.newDTB(), va: userVA + 5*pageSize, pool: pagedVA, subs: nonpaged}
	g.poolPA = b.alloc()
	b.mapPage(g.dtb, g.pool, g.poolPA)
	b.mapNew(g.dtb, g.subs, nil)
	return g
}

// dataPage puts a pattern page at a frame of the full PFN width and
// returns its physical address.
func (g *guest) dataPage(i uint64) uint64 {
	pa := (highPFN(g.width) + i) << pageShift
	g.b.frameAt(pa)
	g.b.mem.write(pa, pattern(i))
	return pa
}

// protoSlot writes a prototype PTE (stored swizzled, as pool PTEs are) at
// index i of the pool page and returns its kernel VA.
func (g *guest) protoSlot(i, v uint64) uint64 {
	g.b.mem.write64(g.poolPA+i*8, g.b.swizzle(v))
	return g.pool + i*8
}

// pagefile1 supplies paging file 1 holding page i's pattern at page offset off.
func (g *guest) pagefile1(off, i uint64) {
	g.b.pagefiles[1] = Pagefile{Data: sparseFile{off: pattern(i)}}
}

// sparseFile is a file of pages at page offsets; the rest reads as zeros,
// as a real sparse file does.
type sparseFile map[uint64][]byte

func (f sparseFile) ReadAt(p []byte, off int64) (int, error) {
	for n := 0; n < len(p); {
		o := uint64(off) + uint64(n)
		pg := f[o>>pageShift]
		if pg == nil {
			pg = make([]byte, pageSize)
		}
		n += copy(p[n:], pg[o&pageMask:])
	}
	return len(p), nil
}

// image is a mapped file: a subsection at g.subs covering the view's PTEs.
// Its sectors: StartingSector 8 (0x1000), 4 PTEs, data ending 0x234 bytes
// into the third page.
func (g *guest) image(name string) []byte {
	file := make([]byte, 0x6000)
	for i := range file {
		file[i] = byte(i*7 + i>>8)
	}
	const start, full, tail = 8, 8 + 8 + 1, 0x34 // 0x1000..0x1000+0x2000+0x234
	g.b.subsection(g.dtb, g.subs, g.pool+0x100, 4, start, full, tail)
	g.b.files[g.subs] = MappedFile{Name: name, Data: fileOf(file)}
	return file
}

// fileBytes is what page k of the subsection reads as: the file from
// offset 0x1000 + k*0x1000, zero past the data's end at 0x3234.
func fileBytes(file []byte, k uint64) []byte {
	p := make([]byte, pageSize)
	off := 0x1000 + k*pageSize
	end := uint64(0x1000 + 0x2000 + 0x234)
	if off < end {
		copy(p, file[off:min(end, off+pageSize)])
	}
	return p
}

func rows() []row {
	return []row{
		{
			name:  "valid 4K",
			setup: func(g *guest) { g.b.mapPage(g.dtb, g.va, g.dataPage(0)) },
			want:  func(g *guest) Location { return Location{State: StateValid, Addr: g.dataPage(0), PageSize: pageSize} },
			data:  func(*guest) []byte { return pattern(0) },
		},
		{
			name: "valid 2M",
			setup: func(g *guest) {
				// A 2M page at a frame of full width; va's page is the 5th.
				base := highPFN(g.width) &^ 511
				g.b.set(g.dtb, g.va, LevelPDE, g.b.large(base))
				pa := base<<pageShift + (g.va & (1<<21 - 1))
				g.b.frameAt(pa)
				g.b.mem.write(pa, pattern(2))
			},
			want: func(g *guest) Location {
				return Location{State: StateValid, Addr: (highPFN(g.width)&^511)<<pageShift + g.va&(1<<21-1), PageSize: 1 << 21}
			},
			data: func(*guest) []byte { return pattern(2) },
		},
		{
			name: "valid 1G",
			setup: func(g *guest) {
				base := highPFN(g.width) &^ (1<<18 - 1)
				g.b.set(g.dtb, g.va, LevelPDPTE, g.b.large(base))
				pa := base<<pageShift + (g.va & (1<<30 - 1))
				g.b.frameAt(pa)
				g.b.mem.write(pa, pattern(3))
			},
			want: func(g *guest) Location {
				return Location{State: StateValid, Addr: (highPFN(g.width)&^(1<<18-1))<<pageShift + g.va&(1<<30-1), PageSize: 1 << 30}
			},
			data: func(*guest) []byte { return pattern(3) },
		},
		{
			name:  "transition",
			setup: func(g *guest) { g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.transition(highPFN(g.width), 4)) },
			want: func(g *guest) Location {
				return Location{State: StateTransition, Addr: g.dataPage(0), PageSize: pageSize, Protection: 4}
			},
			data: func(*guest) []byte { return pattern(0) },
		},
		{
			// The mask bit is part of this PFN, so the guest sets SwizzleBit
			// and the decoder must keep the bit.
			name: "transition, PFN with the mask bit",
			setup: func(g *guest) {
				pfn := uint64(1)<<33 | 0x77
				g.b.frameAt(pfn << pageShift)
				g.b.mem.write(pfn<<pageShift, pattern(7))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.transition(pfn, 1))
			},
			want: func(g *guest) Location {
				return Location{State: StateTransition, Addr: (1<<33 | 0x77) << pageShift, PageSize: pageSize, Protection: 1}
			},
			data: func(*guest) []byte { return pattern(7) },
		},
		{
			name: "pagefile, supplied",
			setup: func(g *guest) {
				g.pagefile1(0x31, 9)
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.pagefile(1, 0x31, 4))
			},
			want: func(*guest) Location {
				return Location{State: StatePagefile, Addr: 0x31000, Pagefile: 1, PageSize: pageSize, Protection: 4}
			},
			data: func(*guest) []byte { return pattern(9) },
		},
		{
			// PageFileHigh bit 13 is entry bit 45: SwizzleBit kept.
			name: "pagefile, offset with the mask bit",
			setup: func(g *guest) {
				g.pagefile1(1<<13|0x31, 9)
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.pagefile(1, 1<<13|0x31, 4))
			},
			want: func(*guest) Location {
				return Location{State: StatePagefile, Addr: (1<<13 | 0x31) << pageShift, Pagefile: 1, PageSize: pageSize, Protection: 4}
			},
			data: func(*guest) []byte { return pattern(9) },
		},
		{
			name:  "pagefile, not supplied",
			setup: func(g *guest) { g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.pagefile(2, 0x44, 4)) },
			want: func(*guest) Location {
				return Location{State: StatePagefile, Addr: 0x44000, Pagefile: 2, PageSize: pageSize, Protection: 4}
			},
			err: ErrPagefileNotSupplied,
		},
		{
			name: "compressed store",
			setup: func(g *guest) {
				g.b.pagefiles[2] = Pagefile{Data: sparseFile{0x10: pattern(1)}, VirtualStore: true}
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.pagefile(2, 0x10, 4))
			},
			want: func(*guest) Location {
				return Location{State: StateCompressed, Addr: 0x10000, Pagefile: 2, PageSize: pageSize, Protection: 4}
			},
			err: ErrCompressed,
		},
		{
			name:  "demand-zero",
			setup: func(g *guest) { g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.demandZero(4)) },
			want:  func(*guest) Location { return Location{State: StateDemandZero, PageSize: pageSize, Protection: 4} },
			data:  func(*guest) []byte { return make([]byte, pageSize) },
		},
		{
			name:  "decommitted",
			setup: func(g *guest) { g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.demandZero(mmDecommit)) },
			want: func(*guest) Location {
				return Location{State: StateDecommitted, PageSize: pageSize, Protection: mmDecommit}
			},
			err: ErrDecommitted,
		},
		{
			name: "prototype -> valid",
			setup: func(g *guest) {
				p := g.protoSlot(3, g.b.valid(highPFN(g.width)))
				g.dataPage(0)
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateValid, Addr: g.dataPage(0), PageSize: pageSize, PrototypePTE: g.pool + 3*8}
			},
			data: func(*guest) []byte { return pattern(0) },
		},
		{
			name: "prototype -> transition",
			setup: func(g *guest) {
				p := g.protoSlot(3, g.b.transition(highPFN(g.width)+1, 3))
				g.dataPage(1)
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateTransition, Addr: g.dataPage(1), PageSize: pageSize, Protection: 3, PrototypePTE: g.pool + 3*8}
			},
			data: func(*guest) []byte { return pattern(1) },
		},
		{
			name: "prototype -> pagefile",
			setup: func(g *guest) {
				g.pagefile1(0x52, 4)
				p := g.protoSlot(3, g.b.pagefile(1, 0x52, 3))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StatePagefile, Addr: 0x52000, Pagefile: 1, PageSize: pageSize, Protection: 3, PrototypePTE: g.pool + 3*8}
			},
			data: func(*guest) []byte { return pattern(4) },
		},
		{
			name: "prototype -> demand-zero",
			setup: func(g *guest) {
				p := g.protoSlot(3, g.b.demandZero(1))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateDemandZero, PageSize: pageSize, Protection: 1, PrototypePTE: g.pool + 3*8}
			},
			data: func(*guest) []byte { return make([]byte, pageSize) },
		},
		{
			name: "prototype -> decommitted",
			setup: func(g *guest) {
				p := g.protoSlot(3, g.b.demandZero(mmDecommit))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateDecommitted, PageSize: pageSize, Protection: mmDecommit, PrototypePTE: g.pool + 3*8}
			},
			err: ErrDecommitted,
		},
		{
			name: "prototype -> subsection",
			setup: func(g *guest) {
				g.image(`\Windows\System32\frostimg.dll`)
				p := g.protoSlot(0x100/8+2, g.b.subsectionPTE(g.subs, 3))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateFile, Addr: 0x1000 + 2*pageSize, PageSize: pageSize, Protection: 3, PrototypePTE: g.pool + 0x100 + 2*8,
					File: &FileLocation{Subsection: g.subs, DataEnd: 0x3234, Name: `\Windows\System32\frostimg.dll`}}
			},
			data: func(g *guest) []byte { return fileBytes(g.image(`\Windows\System32\frostimg.dll`), 2) },
		},
		{
			name: "prototype -> subsection, file not supplied",
			setup: func(g *guest) {
				g.b.subsection(g.dtb, g.subs, g.pool+0x100, 4, 8, 17, 0x34)
				p := g.protoSlot(0x100/8+1, g.b.subsectionPTE(g.subs, 3))
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.protoPointer(p))
			},
			want: func(g *guest) Location {
				return Location{State: StateFile, Addr: 0x2000, PageSize: pageSize, Protection: 3, PrototypePTE: g.pool + 0x100 + 8,
					File: &FileLocation{Subsection: g.subs, DataEnd: 0x3234}}
			},
			err: ErrFileNotSupplied,
		},
		{
			name: "VAD-prototype",
			setup: func(g *guest) {
				g.va = viewVA + 2*pageSize
				g.b.vads.add(g.dtb, VAD{Start: viewVA, End: viewVA + 8*pageSize, Protection: 7, FirstPrototypePte: g.pool + 0x40, Subsection: g.subs})
				g.protoSlot(0x40/8+2, g.b.transition(highPFN(g.width), 3))
				g.dataPage(0)
				g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.vadMarker())
			},
			want: func(g *guest) Location {
				return Location{State: StateTransition, Addr: g.dataPage(0), PageSize: pageSize, Protection: 3, PrototypePTE: g.pool + 0x40 + 2*8}
			},
			data: func(*guest) []byte { return pattern(0) },
		},
		{
			name: "zero PTE in a mapped view",
			setup: func(g *guest) {
				g.va = viewVA + 3*pageSize
				g.b.vads.add(g.dtb, VAD{Start: viewVA, End: viewVA + 8*pageSize, Protection: 7, FirstPrototypePte: g.pool + 0x40})
				g.protoSlot(0x40/8+3, g.b.valid(highPFN(g.width)))
				g.dataPage(0)
				g.b.set(g.dtb, g.va, LevelPTE, g.b.swizzle(0))
			},
			want: func(g *guest) Location {
				return Location{State: StateValid, Addr: g.dataPage(0), PageSize: pageSize, PrototypePTE: g.pool + 0x40 + 3*8}
			},
			data: func(*guest) []byte { return pattern(0) },
		},
		{
			name: "zero PTE, committed private VAD",
			setup: func(g *guest) {
				g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 64*pageSize, Private: true, MemCommit: true, Protection: 4})
				g.b.set(g.dtb, g.va, LevelPTE, g.b.swizzle(0))
			},
			want: func(*guest) Location { return Location{State: StateDemandZero, PageSize: pageSize, Protection: 4} },
			data: func(*guest) []byte { return make([]byte, pageSize) },
		},
		{
			name: "zero PDE, committed private VAD",
			setup: func(g *guest) {
				g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 64*pageSize, Private: true, MemCommit: true, Protection: 4})
				g.b.set(g.dtb, g.va, LevelPDE, g.b.swizzle(0))
			},
			want: func(*guest) Location { return Location{State: StateDemandZero, PageSize: pageSize, Protection: 4} },
			data: func(*guest) []byte { return make([]byte, pageSize) },
		},
		{
			name: "zero PTE, reserved private VAD",
			setup: func(g *guest) {
				g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 64*pageSize, Private: true, Protection: 4})
				g.b.set(g.dtb, g.va, LevelPTE, g.b.swizzle(0))
			},
			want: func(*guest) Location { return Location{State: StateReserved, PageSize: pageSize, Protection: 4} },
			err:  ErrReserved,
		},
		{
			name:  "zero PTE outside any VAD",
			setup: func(g *guest) { g.b.set(g.dtb, g.va, LevelPTE, g.b.swizzle(0)) },
			want:  func(*guest) Location { return Location{State: StateNotMapped, PageSize: pageSize} },
			err:   ErrNotMapped,
		},
		{
			name: "zero PTE at a kernel VA",
			setup: func(g *guest) {
				g.va = nonpaged + 0x10*pageSize
				g.b.set(g.dtb, g.va, LevelPTE, g.b.swizzle(0))
			},
			want: func(*guest) Location { return Location{State: StateNotMapped, PageSize: pageSize} },
			err:  ErrNotMapped,
		},
	}
}

func TestRows(t *testing.T) {
	for _, w := range widths {
		for _, sw := range swizzles {
			for _, r := range rows() {
				t.Run(fmt.Sprintf("%d/%s/%s", w, sw.name, r.name), func(t *testing.T) {
					g := newGuest(t, w, sw.mask)
					r.setup(g)
					tr := g.b.translator(sw.mask)
					checkRow(t, g, tr, r)
				})
			}
		}
	}
}

func checkRow(t *testing.T, g *guest, tr *Translator, r row) {
	t.Helper()
	const off = 0x18
	loc, err := tr.Translate(g.dtb, g.va+off)
	if err != nil {
		t.Fatalf("Translate: %v\n%s", err, tr.Vtop(g.dtb, g.va))
	}
	want := r.want(g).at(off)
	if !sameLocation(loc, want) {
		t.Fatalf("Translate =\n  %+v %+v\nwant\n  %+v %+v\n%s", loc, loc.File, want, want.File, tr.Vtop(g.dtb, g.va))
	}
	buf := bytes.Repeat([]byte{0xCC}, pageSize)
	res := tr.ReadVirtual(g.dtb, g.va, buf)
	if len(res.Pages()) != 1 {
		t.Fatalf("ReadVirtual: %d page results, want 1", len(res.Pages()))
	}
	pr := res.Pages()[0]
	if r.err != nil {
		if !errors.Is(pr.Err, r.err) {
			t.Fatalf("ReadVirtual error = %v, want %v", pr.Err, r.err)
		}
		if res.N != 0 || !bytes.Equal(buf, make([]byte, pageSize)) {
			t.Errorf("ReadVirtual served %d bytes of a page it could not read", res.N)
		}
		return
	}
	if pr.Err != nil {
		t.Fatalf("ReadVirtual: %v", pr.Err)
	}
	if res.N != pageSize || !bytes.Equal(buf, r.data(g)) {
		t.Fatalf("ReadVirtual: %d bytes, content differs from the expected page", res.N)
	}
}

// sameLocation compares locations, and their file sides by value.
func sameLocation(a, b Location) bool {
	fa, fb := a.File, b.File
	a.File, b.File = nil, nil
	if a != b || (fa == nil) != (fb == nil) {
		return false
	}
	return fa == nil || fa.Subsection == fb.Subsection && fa.DataEnd == fb.DataEnd && fa.Name == fb.Name
}
