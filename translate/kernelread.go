package translate

import "encoding/binary"

// Kernel structures that translation itself needs (prototype PTEs,
// subsections) are read through nested walks of the kernel DTB, so a
// prototype PTE whose paged-pool page is in transition or in a paging file
// is still found. Nesting is bounded by maxNesting.

func (w *walker) nested() (*walker, error) {
	if w.depth >= maxNesting {
		return nil, ErrTooDeep
	}
	n := *w
	n.depth++
	// Its own buffer: readKernel fills the caller's while the nested
	// walker translates each page.
	n.buf = nil
	return &n, nil
}

// readKernel reads len(p) bytes at the kernel VA va, across pages.
func (w *walker) readKernel(va uint64, p []byte) error {
	n, err := w.nested()
	if err != nil {
		return err
	}
	for len(p) > 0 {
		loc, err := n.translate(w.kernelDTB, va)
		w.counts = n.counts // n started from w's counts
		if err != nil {
			return err
		}
		chunk := min(uint64(len(p)), pageSize-va&pageMask)
		if err := w.t.readLocation(&loc, p[:chunk]); err != nil {
			return err
		}
		p = p[chunk:]
		va += chunk
	}
	return nil
}

// readKernelQword reads one entry at a kernel VA and says where it really
// was, for provenance.
func (w *walker) readKernelQword(va uint64) (uint64, Where, error) {
	n, err := w.nested()
	if err != nil {
		return 0, virtual(va), err
	}
	loc, err := n.translate(w.kernelDTB, va)
	w.counts = n.counts // n started from w's counts
	if err != nil {
		return 0, virtual(va), err
	}
	where := loc.where()
	buf := w.scratch()
	if va&pageMask > pageSize-entrySize {
		// Straddles two pages: no aligned prototype PTE does, but the
		// address came from the guest.
		err = w.readKernel(va, buf)
	} else {
		err = w.t.readLocation(&loc, buf)
	}
	if err != nil {
		return 0, where, err
	}
	return binary.LittleEndian.Uint64(buf), where, nil
}

func virtual(va uint64) Where { return Where{Space: SpaceVirtual, Addr: va} }

// where says where a location's bytes are, for provenance.
func (l Location) where() Where {
	switch l.State {
	case StateValid, StateTransition:
		return Where{Space: SpacePhysical, Addr: l.Addr}
	case StatePagefile, StateCompressed:
		return Where{Space: SpacePagefile, Pagefile: l.Pagefile, Addr: l.Addr}
	case StateFile:
		return Where{Space: SpaceFile, Addr: l.Addr}
	}
	return Where{Space: SpaceZero}
}
