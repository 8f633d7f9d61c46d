package translate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// refWalk is the naive x64 walk: what the CPU does, nothing of Windows.
// It knows Present (bit 0), PS (bit 7) and the PFN; ok is false wherever
// the CPU would fault.
func refWalk(mem io.ReaderAt, pfnBits uint, dtb, va uint64) (pa uint64, ok bool) {
	pfnMask := uint64(1)<<pfnBits - 1
	table := (dtb >> 12 & pfnMask) << 12
	for level := 0; level < 4; level++ {
		shift := uint(39 - 9*level)
		var b [8]byte
		if _, err := mem.ReadAt(b[:], int64(table+(va>>shift&511)*8)); err != nil {
			return 0, false
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&1 == 0 {
			return 0, false
		}
		frame := (e >> 12 & pfnMask) << 12
		if level == 3 {
			return frame | va&0xfff, true
		}
		if e&0x80 != 0 {
			if level == 0 {
				return 0, false // PS is reserved in a PML4E
			}
			size := uint64(1) << shift
			return frame&^(size-1) | va&(size-1), true
		}
		table = frame
	}
	return 0, false
}

// randomGuest is a guest of random page tables: a few hundred mappings of
// all three sizes into frames anywhere in the PFN width, then random
// entries (every software state, swizzled or not, and plain noise) written
// over random slots of its tables.
type randomGuest struct {
	b      *builder
	dtb    uint64
	tables []uint64
	vas    []uint64
}

// Index choices are drawn from small sets, so mappings share tables.
var (
	pml4Slots = []uint64{0, 1, 0xff, 0x100, 0x1f4, 0x1ff}
	lowSlots  = []uint64{0, 1, 2, 0x100, 0x1ff}
)

func canonicalVA(i4, i3, i2, i1 uint64) uint64 {
	va := i4<<39 | i3<<30 | i2<<21 | i1<<12
	if i4 >= 256 {
		va |= 0xffff000000000000
	}
	return va
}

func newRandomGuest(tb testing.TB, rng *rand.Rand, width uint, mask uint64) *randomGuest {
	b := newBuilder(tb, testLayout(width), mask)
	g := &randomGuest{b: b, dtb: b.alloc()}
	g.tables = append(g.tables, g.dtb)
	pick := func(s []uint64) uint64 { return s[rng.IntN(len(s))] }
	for range 300 {
		va := canonicalVA(pick(pml4Slots), pick(lowSlots), pick(lowSlots), uint64(rng.IntN(512)))
		leaf := LevelPTE
		switch r := rng.IntN(20); {
		case r == 0:
			leaf = LevelPDPTE
		case r < 4:
			leaf = LevelPDE
		}
		size := uint64(1) << levelShift[leaf]
		frame := rng.Uint64N(uint64(1)<<width) << pageShift &^ (size - 1)
		if g.mapRandom(va, leaf, frame) {
			g.vas = append(g.vas, va)
		}
	}
	for range 300 {
		table := g.tables[rng.IntN(len(g.tables))]
		slot := uint64(rng.IntN(512))
		if rng.IntN(3) == 0 {
			slot = pick(lowSlots)
		}
		b.mem.write64(table+slot*8, g.randomEntry(rng))
	}
	b.vads.add(g.dtb, VAD{Start: 0, End: 1 << 39, Private: true, MemCommit: true, Protection: 4})
	b.vads.add(g.dtb, VAD{Start: 1 << 39, End: 2 << 39, FirstPrototypePte: 0xffff800000000000 + rng.Uint64N(1<<30)*8, Protection: 7})
	b.pagefiles[1] = Pagefile{Data: sparseFile{}}
	b.pagefiles[2] = Pagefile{Data: sparseFile{}, VirtualStore: true}
	return g
}

// mapRandom maps va at leaf to frame, creating tables; it gives up where
// an existing entry is not a table pointer.
func (g *randomGuest) mapRandom(va uint64, leaf Level, frame uint64) bool {
	b := g.b
	table := g.dtb
	for level := LevelPML4E; ; level++ {
		pa := table + ((va>>levelShift[level])&511)*8
		if level == leaf {
			v := b.valid(frame >> pageShift)
			if leaf != LevelPTE {
				v |= put(b.l.LargePage, 1)
			}
			b.mem.write64(pa, v)
			return true
		}
		v := b.mem.read64(pa)
		switch {
		case v == 0:
			next := b.alloc()
			g.tables = append(g.tables, next)
			b.mem.write64(pa, b.valid(next>>pageShift))
			table = next
		case v&1 == 1 && v&0x80 == 0:
			table = b.l.PageFrameNumber.Get(v) << pageShift
			if _, ok := b.mem.pages[table>>pageShift]; !ok {
				return false
			}
		default:
			return false
		}
	}
}

// randomEntry is any state Windows writes, stored swizzled as the guest
// does, or noise.
func (g *randomGuest) randomEntry(rng *rand.Rand) uint64 {
	b := g.b
	pfn := rng.Uint64N(uint64(1) << b.l.PageFrameNumber.Len)
	if rng.IntN(2) == 0 {
		pfn = g.tables[rng.IntN(len(g.tables))] >> pageShift
	}
	prot := rng.Uint64N(32)
	switch rng.IntN(12) {
	case 0:
		return rng.Uint64()
	case 1:
		return b.valid(pfn)
	case 2:
		return b.large(pfn)
	case 3:
		return b.swizzle(b.transition(pfn, prot))
	case 4:
		return b.swizzle(b.pagefile(rng.Uint64N(4), rng.Uint64N(1<<32), prot))
	case 5:
		return b.swizzle(b.demandZero(prot))
	case 6:
		return b.swizzle(0)
	case 7:
		return b.swizzle(b.vadMarker())
	case 8:
		return b.swizzle(b.protoPointer(canonicalVA(pml4Slots[rng.IntN(len(pml4Slots))], 0, 0, 0) | rng.Uint64N(1<<21)*8))
	case 9:
		return b.swizzle(b.subsectionPTE(0xffff800000000000|rng.Uint64N(1<<30)*8, prot))
	case 10:
		return rng.Uint64() &^ 1 // invalid noise
	}
	return rng.Uint64() | 1 // valid noise
}

func typedError(err error) bool {
	var ae *AddressError
	var re *ReadError
	var ee *EntryError
	return errors.As(err, &ae) || errors.As(err, &re) || errors.As(err, &ee) || errors.Is(err, ErrTooDeep)
}

// throughPagedOutTable says the walk went through a page table that is not
// resident (transition, paging file, demand-zero), which the CPU cannot.
func throughPagedOutTable(p *Provenance) bool {
	for _, s := range p.Steps {
		if s.Depth == 0 && s.Level >= LevelPML4E && s.Level < LevelPTE && s.Kind != KindValid {
			return true
		}
	}
	return false
}

// TestPropertyAgainstReferenceWalk: on random page tables, every page the
// CPU would map translates to the same physical address; no page the CPU
// would not map is called valid unless a prototype PTE or a paged-out page
// table (which Windows would bring back) says so; every
// failure is a typed error; the cached, uncached and provenance paths agree.
func TestPropertyAgainstReferenceWalk(t *testing.T) {
	seeds := 64
	if testing.Short() {
		seeds = 10
	}
	for seed := range seeds {
		width := widths[seed%2]
		mask := swizzles[seed/2%2].mask
		rng := rand.New(rand.NewPCG(uint64(seed), 0xF405))
		g := newRandomGuest(t, rng, width, mask)
		cached := g.b.translator(mask)
		uncached := g.b.translator(mask, func(c *Config) { c.TLBEntries = -1 })

		samples := append([]uint64(nil), g.vas...)
		for range 1000 {
			i4 := pml4Slots[rng.IntN(len(pml4Slots))]
			samples = append(samples, canonicalVA(i4, lowSlots[rng.IntN(len(lowSlots))], uint64(rng.IntN(512)), uint64(rng.IntN(512)))|rng.Uint64N(pageSize))
		}
		valid := 0
		for _, va := range samples {
			pa, ok := refWalk(g.b.mem, width, g.dtb, va)
			for pass, tr := range []*Translator{cached, cached, uncached} {
				loc, err := tr.Translate(g.dtb, va)
				if err != nil && !typedError(err) {
					t.Fatalf("seed %d va 0x%x: untyped error %T %v", seed, va, err, err)
				}
				if ok && (err != nil || loc.State != StateValid || loc.Addr != pa) {
					t.Fatalf("seed %d va 0x%x pass %d: reference 0x%x, got %+v %v\n%s", seed, va, pass, pa, loc, err, tr.Vtop(g.dtb, va))
				}
				if !ok && loc.State == StateValid && loc.PrototypePTE == 0 && !throughPagedOutTable(tr.Vtop(g.dtb, va)) {
					t.Fatalf("seed %d va 0x%x: the CPU faults, got %+v\n%s", seed, va, loc, tr.Vtop(g.dtb, va))
				}
				if pass == 2 {
					p := tr.Vtop(g.dtb, va)
					if !sameLocation(p.Location, loc) || (p.Err == nil) != (err == nil) {
						t.Fatalf("seed %d va 0x%x: vtop %+v %v, translate %+v %v", seed, va, p.Location, p.Err, loc, err)
					}
					_ = p.String()
				}
			}
			if ok {
				valid++
				// The bytes are RAM's, or the read fails for both.
				want := make([]byte, 64)
				_, rerr := g.b.mem.ReadAt(want, int64(pa))
				got := make([]byte, 64)
				res := cached.ReadVirtual(g.dtb, va, got)
				if (rerr == nil) != (res.Err() == nil) || rerr == nil && !bytes.Equal(got[:res.Pages()[0].Len], want[:res.Pages()[0].Len]) {
					t.Fatalf("seed %d va 0x%x: ReadVirtual %v, RAM %v", seed, va, res.Err(), rerr)
				}
			}
		}
		if valid < 50 {
			t.Errorf("seed %d: only %d valid samples; the generator is too weak", seed, valid)
		}
		if _, err := cached.VadMap(g.dtb, 0, 1<<26); err != nil {
			t.Fatal(err)
		}
	}
}
