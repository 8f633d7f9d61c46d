package translate

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

const (
	pageShift       = 12
	pageSize        = 1 << pageShift
	pageMask        = pageSize - 1
	entriesPerTable = 512
	entrySize       = 8 // x64 hardware entries; Layout.Validate checks sizeof(_MMPTE) agrees

	// maxNesting bounds walks started from inside a walk. Depth 1 reads
	// prototype PTEs and subsections; depth 2 allows the kernel page that
	// holds one to be prototype-backed itself (pageable images). Nothing in
	// Windows needs more, so deeper means a crafted or corrupt guest.
	maxNesting = 2
)

// levelShift is the VA bit each level's index starts at (x64 4-level paging).
var levelShift = [...]uint{LevelPML4E: 39, LevelPDPTE: 30, LevelPDE: 21, LevelPTE: 12}

// walker carries one top-level translation and the nested ones it starts.
type walker struct {
	t         *Translator
	steps     *[]Step // nil: no provenance wanted
	depth     int
	gen       uint64
	cache     bool // may read and fill the TLB
	smear     bool // the guest was running when the walk began
	kernelDTB uint64
	// buf is the 8-byte buffer of reads through io.ReaderAt, made on first
	// use: a slice passed to an interface method escapes, and as a field
	// of the walker it took the whole walker to the heap on every
	// translation, even those that read through EntryReader.
	buf *[8]byte
	// via is how this walk's page was reached (viaPTE, viaPrototype,
	// viaVADPrototype), and counts its cache lookups: both for the
	// Translator's stats (stats.go).
	via    uint8
	counts walkCounts
}

// scratch returns the walker's 8-byte read buffer.
func (w *walker) scratch() []byte {
	if w.buf == nil {
		w.buf = new([8]byte)
	}
	return w.buf[:]
}

func canonical(va uint64) bool {
	top := va >> 47
	return top == 0 || top == 0x1ffff
}

func isKernel(va uint64) bool { return va>>47 == 0x1ffff }

// translate is the entry point of every walk, top-level or nested.
func (w *walker) translate(dtb, va uint64) (Location, error) {
	var loc Location
	err := w.translateTo(dtb, va, &loc)
	return loc, err
}

// translateTo is translate into *loc. The hot paths
// (Translate, ReadVirtual) fill their result in place: copying a Location
// that was just written field by field, with whole-register moves, stalled
// on every copy (store forwarding), which cost as much as the walk itself.
func (w *walker) translateTo(dtb, va uint64, loc *Location) error {
	*loc = Location{}
	w.via = viaPTE
	page, off := va&^uint64(pageMask), va&pageMask
	if w.cache && w.steps == nil {
		if l, ok := w.t.tlb.get(dtb, page, w.gen); ok {
			*loc = l.at(off)
			w.via = uint8(l.meta >> metaViaShift & 3)
			return nil
		}
	}
	if w.steps != nil {
		w.add(Step{Level: LevelVirtual, VA: va, Note: fmt.Sprintf("Virtual Address 0x%016x (DTB 0x%x)", va, dtb)})
	}
	var err error
	if !canonical(va) {
		err = &AddressError{VA: va, Reason: "not canonical"}
	} else {
		if w.kernelDTB == 0 {
			w.kernelDTB = w.t.kernelDTB
			if w.kernelDTB == 0 {
				w.kernelDTB = dtb
			}
		}
		err = w.walk(dtb, page, loc)
		if err == nil && w.cache {
			w.t.tlb.putVia(dtb, page, w.gen, loc, w.via)
		}
		loc.advance(off)
	}
	if w.steps != nil {
		w.add(Step{Level: LevelResult, VA: va, Note: resultNote(*loc, err)})
	}
	return err
}

// walk follows the four levels for a page-aligned va. Non-leaf entries in
// transition or in a paging file keep the walk going through the page they
// name: Windows pages out page tables too. The answer goes to *out, which
// is left zero on an error.
func (w *walker) walk(dtb, va uint64, out *Location) error {
	d := &w.t.dec
	table := Where{Space: SpacePhysical, Addr: dtb & d.physMask}
	var e entry
	level := LevelPML4E
	// upperValid: every entry so far was hardware-valid, so the page table
	// the PDE names may go to the PDE cache.
	pdes, upperValid := w.t.pdes, true
	if !w.cache || w.steps != nil {
		pdes = nil
	}
	if pdes != nil {
		if pt, ok := pdes.get(dtb, va, w.gen); ok {
			table, level = Where{Space: SpacePhysical, Addr: pt}, LevelPTE
			w.counts.pdeHit++
		} else {
			w.counts.pdeMiss++
		}
	}
	for ; level <= LevelPTE; level++ {
		at := table.plus(((va >> levelShift[level]) & (entriesPerTable - 1)) * entrySize)
		raw, err := w.readEntry(level, at)
		if err != nil {
			return &ReadError{What: level.String(), At: at, Err: err}
		}
		d.decodeTo(&e, raw, false)
		if level == LevelPTE {
			e.large = false // bit 7 of a PTE is PAT
			e.leaf = true
		}
		step := w.entryStep(level, va, at, &e)
		size := uint64(1) << levelShift[level]
		leaf := level == LevelPTE
		switch e.kind {
		case KindValid:
			if e.reserved != 0 {
				// The processor faults on these (PFERR.RSVD): no page.
				return &EntryError{What: level.String(), At: at, Raw: raw, Reason: fmt.Sprintf("reserved address bits 0x%x set above MAXPHYADDR", e.reserved)}
			}
			pa := e.pfn << pageShift
			if e.large && level == LevelPML4E {
				return &EntryError{What: level.String(), At: at, Raw: raw, Reason: "PS is reserved in a PML4E"}
			}
			if leaf || e.large {
				pa = pa&^(size-1) | va&(size-1)
				w.setNext(step, func() string { return fmt.Sprintf("%s page @ 0x%x", sizeName(size), pa) })
				*out = Location{State: StateValid, Addr: pa, PageSize: size}
				return nil
			}
			table = Where{Space: SpacePhysical, Addr: pa}
			if level == LevelPDE && upperValid && pdes != nil {
				pdes.put(dtb, va, w.gen, pa)
			}
			w.setNext(step, func() string { return tableNames[level] + " @ " + table.String() })
			continue
		case KindTransition:
			pa := e.pfn << pageShift
			if leaf {
				w.setNext(step, func() string { return fmt.Sprintf("page @ 0x%x, in transition", pa) })
				*out = Location{State: StateTransition, Addr: pa, PageSize: pageSize, Protection: e.protection}
				return nil
			}
			table = Where{Space: SpacePhysical, Addr: pa}
		case KindPagefile:
			pf := w.t.pagefiles[e.pagefile]
			where := Where{Space: SpacePagefile, Pagefile: e.pagefile, Addr: e.pageOffset << pageShift}
			if leaf {
				st := StatePagefile
				if pf.VirtualStore {
					st = StateCompressed
				}
				w.setNext(step, func() string { return "page @ " + where.String() })
				*out = Location{State: st, Addr: where.Addr, Pagefile: e.pagefile, PageSize: pageSize, Protection: e.protection}
				return nil
			}
			if pf.VirtualStore {
				return &ReadError{What: tableNames[level], At: where, Err: ErrCompressed}
			}
			table = where
		case KindDemandZero:
			if leaf {
				*out = Location{State: StateDemandZero, PageSize: pageSize, Protection: e.protection}
				return nil
			}
			// A demand-zero page table: every entry in it reads as zero.
			table = Where{Space: SpaceZero}
		case KindDecommitted:
			*out = Location{State: StateDecommitted, PageSize: pageSize, Protection: e.protection}
			return nil
		case KindZero:
			loc, err := w.zeroEntry(dtb, va)
			*out = loc
			return err
		case KindNotPresent:
			// The processor would fault here; what the OS keeps in the
			// entry is not the hardware's to read.
			*out = Location{State: StateNotMapped, PageSize: pageSize}
			return nil
		case KindPrototype, KindVADPrototype:
			if !leaf {
				return &EntryError{What: level.String(), At: at, Raw: raw, Reason: "a prototype PTE above the PTE level"}
			}
			w.via = viaPrototype
			if e.kind == KindVADPrototype {
				w.via = viaVADPrototype
			}
			loc, err := w.prototype(dtb, va, &e, at)
			*out = loc
			return err
		}
		upperValid = false
		w.setNext(step, func() string { return tableNames[level] + " @ " + table.String() })
	}
	// Unreachable: every kind ends the walk at the PTE level.
	return &AddressError{VA: va, Reason: "walk ended without a leaf"}
}

// tableNames names the table each level's entry points to.
var tableNames = [...]string{LevelPML4E: "pdpt", LevelPDPTE: "page directory", LevelPDE: "page table"}

func sizeName(size uint64) string {
	switch size {
	case 1 << 30:
		return "1G"
	case 1 << 21:
		return "2M"
	}
	return "4K"
}

// readEntry reads one 8-byte entry wherever its table is: from the
// page-table cache when the walk may use it, otherwise from the table
// itself.
func (w *walker) readEntry(level Level, at Where) (uint64, error) {
	if at.Space != SpaceZero && w.cache && w.steps == nil && w.t.tables != nil {
		if v, ok := w.t.tables.entry(level, at, w.gen); ok {
			w.counts.tableHit++
			return v, nil
		}
		w.counts.tableMiss++
		if v, ok := w.fillTable(level, at); ok {
			return v, nil
		}
	}
	switch at.Space {
	case SpaceZero:
		return 0, nil
	case SpacePhysical:
		if w.t.entries != nil {
			return readEntryFast(w.t.entries, at.Addr)
		}
		return w.readQword(w.t.phys, at.Addr)
	case SpacePagefile:
		pf := w.t.pagefiles[at.Pagefile]
		if pf.Data == nil {
			return 0, ErrPagefileNotSupplied
		}
		return w.readQword(pf.Data, at.Addr)
	}
	return 0, fmt.Errorf("no page table can live in %s", at)
}

// readQword reads 8 little-endian bytes at off through r.
func (w *walker) readQword(r io.ReaderAt, off uint64) (uint64, error) {
	buf := w.scratch()
	if err := readFull(r, off, buf); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(buf), nil
}

// readEntryFast is readFull's contract for EntryReader: an address whose 8
// bytes would pass 2^63 fails as readFull fails it, before the reader is
// asked.
func readEntryFast(r EntryReader, pa uint64) (uint64, error) {
	if pa > math.MaxInt64-entrySize {
		return 0, io.ErrUnexpectedEOF
	}
	return r.ReadEntry(pa)
}

// fillTable reads the whole table page holding at into the page-table
// cache and returns the entry. It reports false when the page cannot be
// read whole (no paging file supplied, a page that is only partly RAM):
// the caller then reads the single entry as an uncached walk would, so
// what succeeds and how it fails do not depend on the cache.
func (w *walker) fillTable(level Level, at Where) (uint64, bool) {
	page := at
	page.Addr &^= pageMask
	var r Physical
	switch at.Space {
	case SpacePhysical:
		r = w.t.phys
	case SpacePagefile:
		if r = w.t.pagefiles[at.Pagefile].Data; r == nil {
			return 0, false
		}
	default:
		return 0, false
	}
	buf := w.t.scratch.Get().(*[pageSize]byte)
	defer w.t.scratch.Put(buf)
	if readFull(r, page.Addr, buf[:]) != nil {
		return 0, false
	}
	w.t.tables.fill(level, page, w.gen, buf[:])
	return binary.LittleEndian.Uint64(buf[at.Addr&pageMask:]), true
}
