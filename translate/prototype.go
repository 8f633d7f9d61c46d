package translate

import "fmt"

// prototype follows a PTE whose Prototype bit is set: to the prototype PTE
// it names, or, for the lookup-needed marker, to the one the VAD names.
func (w *walker) prototype(dtb, va uint64, e *entry, at Where) (Location, error) {
	proto := e.pointer
	if e.kind == KindVADPrototype {
		if isKernel(va) {
			return Location{}, &EntryError{What: "pte", At: at, Raw: e.raw, Reason: "VAD lookup needed for a kernel VA"}
		}
		vad, found, err := w.findVAD(dtb, va)
		if err != nil {
			return Location{}, err
		}
		if !found || vad.Private {
			return Location{}, &EntryError{What: "pte", At: at, Raw: e.raw, Reason: "VAD lookup needed, but no mapped VAD contains the address"}
		}
		if proto, err = w.vadPrototype(va, vad); err != nil {
			return Location{}, err
		}
	}
	return w.resolvePrototype(proto, va)
}

// resolvePrototype reads the prototype PTE at the kernel VA proto, wherever
// its paged-pool page is (RAM, transition, a paging file), and decodes it
// with the prototype-PTE rules. A prototype PTE never leads to another, so
// this does not recurse.
func (w *walker) resolvePrototype(proto, va uint64) (Location, error) {
	if !isKernel(proto) {
		return Location{}, &ReadError{What: "prototype PTE", At: virtual(proto), Err: fmt.Errorf("0x%x is not a kernel VA", proto)}
	}
	raw, where, err := w.readKernelQword(proto)
	if err != nil {
		return Location{}, &ReadError{What: "prototype PTE", At: where, Err: err}
	}
	e := w.t.dec.decode(raw, true)
	e.large = false // prototype PTEs map 4K pages; bit 7 is PAT
	step := -1
	if w.steps != nil {
		step = w.entryStep(LevelPrototype, proto, where, &e)
	}
	loc := Location{PageSize: pageSize, Protection: e.protection, PrototypePTE: proto}
	switch e.kind {
	case KindValid:
		loc.State, loc.Addr, loc.Protection = StateValid, e.pfn<<pageShift, 0
	case KindTransition:
		loc.State, loc.Addr = StateTransition, e.pfn<<pageShift
	case KindPagefile:
		loc.State, loc.Addr, loc.Pagefile = StatePagefile, e.pageOffset<<pageShift, e.pagefile
		if w.t.pagefiles[e.pagefile].VirtualStore {
			loc.State = StateCompressed
		}
	case KindDemandZero:
		loc.State = StateDemandZero
	case KindDecommitted:
		loc.State = StateDecommitted
	case KindZero:
		loc.State = StateNotMapped
	case KindSubsection:
		return w.subsection(proto, &e, step)
	default:
		return Location{}, &EntryError{What: "prototype PTE", At: where, Raw: raw, Reason: "undecodable"}
	}
	return loc, nil
}

// subsection locates a file-backed page: the prototype PTE's index in its
// subsection, in pages, past the subsection's first sector. Bytes past the
// subsection's data read as zeros, as the memory manager fills them.
func (w *walker) subsection(proto uint64, e *entry, step int) (Location, error) {
	sl := &w.t.dec.l.Subsection
	if !isKernel(e.pointer) {
		return Location{}, &ReadError{What: "_SUBSECTION", At: virtual(e.pointer), Err: fmt.Errorf("0x%x is not a kernel VA", e.pointer)}
	}
	buf := make([]byte, sl.Size)
	if err := w.readKernel(e.pointer, buf); err != nil {
		return Location{}, &ReadError{What: "_SUBSECTION", At: virtual(e.pointer), Err: err}
	}
	base := sl.SubsectionBase.get(buf)
	ptes := sl.PtesInSubsection.get(buf)
	sector := sl.StartingSector.get(buf) | sl.StartingSector4132.get(buf)<<32
	full := sl.NumberOfFullSectors.get(buf)
	tail := sl.SectorEndOffset.get(buf)
	ptesize := w.t.dec.l.PTESize
	if proto < base || (proto-base)%ptesize != 0 || (proto-base)/ptesize >= ptes {
		return Location{}, &EntryError{What: "prototype PTE", Raw: e.raw,
			Reason: fmt.Sprintf("0x%x is outside its subsection (SubsectionBase 0x%x, %d PTEs)", proto, base, ptes)}
	}
	index := (proto - base) / ptesize
	f := &FileLocation{Subsection: e.pointer, DataEnd: sector*512 + full*512 + tail}
	loc := Location{State: StateFile, Addr: sector*512 + index*pageSize, PageSize: pageSize,
		Protection: e.protection, PrototypePTE: proto, File: f}
	if w.t.files == nil {
		f.err = fmt.Errorf("%w: no file resolver", ErrFileNotSupplied)
	} else {
		mf, err := w.t.files.SubsectionFile(e.pointer)
		f.Name, f.data, f.err = mf.Name, mf.Data, err
		if err == nil && mf.Data == nil {
			f.err = ErrFileNotSupplied
		}
	}
	if w.steps != nil {
		w.setNext(step, func() string { return fmt.Sprintf("_SUBSECTION @ 0x%x", e.pointer) })
		w.note(LevelSubsection, proto,
			"Subsection 0x%x: SubsectionBase 0x%x, StartingSector 0x%x, NumberOfFullSectors %d, SectorEndOffset %d, PTE index %d -> file offset 0x%x (data ends at 0x%x)",
			e.pointer, base, sector, full, tail, index, loc.Addr, f.DataEnd)
	}
	return loc, nil
}
