package translate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
)

// This file builds synthetic guests: sparse physical memory, page tables
// written entry by entry (swizzled as mini-NT and Windows store them), VADs,
// paging files and mapped files.

// testLayout is Windows 10 19041's _MMPTE layout with a PFN of pfnBits bits
// (36 on Windows 10, 40 on Windows 11). Test code only: production code
// builds every Layout from the kernel's symbols.
func testLayout(pfnBits uint) *Layout {
	return &Layout{
		Valid: Bits{0, 1}, LargePage: Bits{7, 1}, PageFrameNumber: Bits{12, pfnBits},
		Prototype: Bits{10, 1}, ProtoAddress: Bits{16, 48},
		Transition: Bits{11, 1}, TransitionPageFrameNumber: Bits{12, pfnBits},
		Protection: Bits{5, 5}, PageFileLow: Bits{12, 4}, PageFileHigh: Bits{32, 32}, SwizzleBit: Bits{4, 1},
		SubsectionAddress: Bits{16, 48},
		PTESize:           8,
		Subsection: SubsectionLayout{
			Size:                56,
			SubsectionBase:      Field{Offset: 8, Size: 8},
			StartingSector:      Field{Offset: 36, Size: 4},
			NumberOfFullSectors: Field{Offset: 40, Size: 4},
			PtesInSubsection:    Field{Offset: 44, Size: 4},
			StartingSector4132:  Field{Offset: 32, Size: 2, Bits: Bits{6, 10}},
			SectorEndOffset:     Field{Offset: 34, Size: 2, Bits: Bits{4, 12}},
		},
	}
}

// mask46 is InvalidPteMask on a CPU with 46 physical address bits.
const mask46 = uint64(1) << 45

// physMem is sparse guest-physical memory: absent pages are not RAM.
type physMem struct {
	pages map[uint64]*[pageSize]byte
}

func newPhysMem() *physMem { return &physMem{pages: make(map[uint64]*[pageSize]byte)} }

func (m *physMem) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		pa := uint64(off) + uint64(n)
		pg, ok := m.pages[pa>>pageShift]
		if !ok {
			return n, fmt.Errorf("no RAM at 0x%x", pa)
		}
		n += copy(p[n:], pg[pa&pageMask:])
	}
	return n, nil
}

func (m *physMem) page(pa uint64) *[pageSize]byte {
	pg, ok := m.pages[pa>>pageShift]
	if !ok {
		pg = new([pageSize]byte)
		m.pages[pa>>pageShift] = pg
	}
	return pg
}

func (m *physMem) write(pa uint64, b []byte) {
	for len(b) > 0 {
		n := copy(m.page(pa)[pa&pageMask:], b)
		b, pa = b[n:], pa+uint64(n)
	}
}

func (m *physMem) write64(pa, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.write(pa, b[:])
}

func (m *physMem) read64(pa uint64) uint64 {
	var b [8]byte
	if _, err := m.ReadAt(b[:], int64(pa)); err != nil {
		panic(err)
	}
	return binary.LittleEndian.Uint64(b[:])
}

// builder writes page tables into a physMem.
type builder struct {
	tb   testing.TB
	l    *Layout
	mask uint64 // the guest's swizzle mask: invalid entries are stored swizzled
	mem  *physMem
	next uint64 // next free PFN

	vads      vadList
	pagefiles map[uint64]Pagefile
	files     map[uint64]MappedFile // by subsection VA
}

func newBuilder(tb testing.TB, l *Layout, mask uint64) *builder {
	return &builder{tb: tb, l: l, mask: mask, mem: newPhysMem(), next: 0x100,
		pagefiles: map[uint64]Pagefile{}, files: map[uint64]MappedFile{}}
}

// alloc returns the physical address of a fresh zeroed frame.
func (b *builder) alloc() uint64 {
	pa := b.next << pageShift
	b.next++
	b.mem.page(pa)
	return pa
}

// frameAt makes the frame at pa exist (for PFNs chosen by a test).
func (b *builder) frameAt(pa uint64) { b.mem.page(pa) }

func (b *builder) newDTB() uint64 { return b.alloc() }

// entryPA returns the physical address of va's entry at level, creating
// valid intermediate tables as needed. It fails the test if an upper entry
// exists and is not a valid table pointer.
func (b *builder) entryPA(dtb, va uint64, level Level) uint64 {
	table := dtb
	for l := LevelPML4E; ; l++ {
		pa := table + ((va>>levelShift[l])&511)*8
		if l == level {
			return pa
		}
		v := b.mem.read64(pa)
		if v == 0 {
			next := b.alloc()
			b.mem.write64(pa, b.valid(next>>pageShift))
			table = next
			continue
		}
		if v&1 == 0 || v&0x80 != 0 {
			b.tb.Fatalf("entryPA: %s for 0x%x is 0x%x, not a table pointer", l, va, v)
		}
		table = b.l.PageFrameNumber.Get(v) << pageShift
	}
}

// set stores raw at va's entry of level, as is.
func (b *builder) set(dtb, va uint64, level Level, raw uint64) uint64 {
	pa := b.entryPA(dtb, va, level)
	b.mem.write64(pa, raw)
	return pa
}

// setInvalid stores an invalid entry the way the memory manager does.
func (b *builder) setInvalid(dtb, va uint64, level Level, v uint64) uint64 {
	return b.set(dtb, va, level, b.swizzle(v))
}

// swizzle is MiSwizzleInvalidPte: v | SwizzleBit when v already has the
// mask bits, v | mask otherwise.
// Valid entries are the hardware's and stay as they are.
func (b *builder) swizzle(v uint64) uint64 {
	if b.mask == 0 || v&b.l.Valid.Mask() != 0 {
		return v
	}
	if v&b.mask != 0 {
		return v | b.l.SwizzleBit.Mask()
	}
	return v | b.mask
}

// mapPage maps va to the frame at pa with a valid 4K PTE.
func (b *builder) mapPage(dtb, va, pa uint64) {
	b.frameAt(pa)
	b.set(dtb, va, LevelPTE, b.valid(pa>>pageShift))
}

// mapNew maps va to a fresh frame filled with data (or a pattern) and
// returns the frame's address.
func (b *builder) mapNew(dtb, va uint64, data []byte) uint64 {
	pa := b.alloc()
	b.mapPage(dtb, va, pa)
	b.mem.write(pa, data)
	return pa
}

// Entry values, from the Layout's fields.

func put(f Bits, x uint64) uint64 { return (x << f.Pos) & f.Mask() }

func (b *builder) valid(pfn uint64) uint64 {
	// Valid | Write (Dirty1) | Owner | Accessed | Dirty, as a user RW page.
	return put(b.l.Valid, 1) | 0x2 | 0x4 | 0x20 | 0x40 | put(b.l.PageFrameNumber, pfn)
}

func (b *builder) large(pfn uint64) uint64 { return b.valid(pfn) | put(b.l.LargePage, 1) }

func (b *builder) transition(pfn, prot uint64) uint64 {
	return put(b.l.Transition, 1) | put(b.l.Protection, prot) | put(b.l.TransitionPageFrameNumber, pfn)
}

func (b *builder) pagefile(n, pageOffset, prot uint64) uint64 {
	return put(b.l.PageFileLow, n) | put(b.l.PageFileHigh, pageOffset) | put(b.l.Protection, prot)
}

func (b *builder) demandZero(prot uint64) uint64 { return put(b.l.Protection, prot) }

func (b *builder) protoPointer(protoVA uint64) uint64 {
	return put(b.l.Prototype, 1) | put(b.l.ProtoAddress, protoVA&(1<<48-1))
}

func (b *builder) vadMarker() uint64 {
	return put(b.l.Prototype, 1) | put(b.l.ProtoAddress, vadLookupMarker)
}

func (b *builder) subsectionPTE(sub, prot uint64) uint64 {
	return put(b.l.Prototype, 1) | put(b.l.Protection, prot) | put(b.l.SubsectionAddress, sub&(1<<48-1))
}

// writeKernel writes bytes at a kernel VA that the builder has mapped.
func (b *builder) writeKernel(dtb, va uint64, data []byte) {
	for len(data) > 0 {
		pte := b.mem.read64(b.entryPA(dtb, va, LevelPTE))
		if pte&1 == 0 {
			b.tb.Fatalf("writeKernel: 0x%x is not mapped", va)
		}
		pa := b.l.PageFrameNumber.Get(pte)<<pageShift | va&pageMask
		n := min(len(data), int(pageSize-va&pageMask))
		b.mem.write(pa, data[:n])
		data, va = data[n:], va+uint64(n)
	}
}

// subsection writes a _SUBSECTION (testLayout's offsets) at a kernel VA.
func (b *builder) subsection(dtb, va, base uint64, ptes, startingSector, fullSectors, sectorEnd uint32) {
	s := make([]byte, 56)
	binary.LittleEndian.PutUint64(s[8:], base)
	binary.LittleEndian.PutUint16(s[34:], uint16(sectorEnd)<<4)
	binary.LittleEndian.PutUint32(s[36:], startingSector)
	binary.LittleEndian.PutUint32(s[40:], fullSectors)
	binary.LittleEndian.PutUint32(s[44:], ptes)
	b.writeKernel(dtb, va, s)
}

// translator makes a Translator over the builder's guest; mask is what the
// Translator is told (normally b.mask).
func (b *builder) translator(mask uint64, opts ...func(*Config)) *Translator {
	b.tb.Helper()
	cfg := Config{Layout: b.l, SwizzleMask: mask, Physical: b.mem, VADs: &b.vads, Pagefiles: b.pagefiles, Files: fileMap(b.files)}
	for _, o := range opts {
		o(&cfg)
	}
	t, err := New(cfg)
	if err != nil {
		b.tb.Fatal(err)
	}
	return t
}

// vadList is a VADResolver over a list.
type vadList struct {
	vads  []testVAD
	calls int
}

type testVAD struct {
	dtb uint64
	VAD
}

func (v *vadList) add(dtb uint64, vad VAD) { v.vads = append(v.vads, testVAD{dtb, vad}) }

func (v *vadList) FindVAD(dtb, va uint64) (VAD, bool, error) {
	v.calls++
	for _, x := range v.vads {
		if x.dtb == dtb && va >= x.Start && va < x.End {
			return x.VAD, true, nil
		}
	}
	return VAD{}, false, nil
}

// fileMap is a FileResolver over a map.
type fileMap map[uint64]MappedFile

func (m fileMap) SubsectionFile(sub uint64) (MappedFile, error) {
	f, ok := m[sub]
	if !ok {
		return MappedFile{}, fmt.Errorf("subsection 0x%x: %w", sub, ErrFileNotSupplied)
	}
	if f.Data == nil {
		return f, fmt.Errorf("%s: %w", f.Name, ErrFileNotSupplied)
	}
	return f, nil
}

// pattern is a page of recognizable bytes: page i of a region, as swapper
// writes it in mini-NT.
func pattern(i uint64) []byte {
	p := make([]byte, pageSize)
	binary.LittleEndian.PutUint64(p, 0x46524F5354000000|i)
	for j := uint64(1); j < pageSize/8; j++ {
		binary.LittleEndian.PutUint64(p[j*8:], i<<32|(j*0x9E3779B1)&0xffffffff)
	}
	return p
}

// fileOf is an io.ReaderAt with a name, for paging files and mapped files.
func fileOf(data []byte) io.ReaderAt { return bytes.NewReader(data) }
