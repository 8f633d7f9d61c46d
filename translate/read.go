package translate

import "fmt"

// PageRead is the outcome for one piece of a ReadVirtual buffer: at most
// one page.
type PageRead struct {
	VA       uint64
	Off, Len int // the piece of the buffer
	Location Location
	// Err is nil when the piece holds the page's bytes. Otherwise the piece
	// is zero-filled and Err says why (errors.Is ErrNotMapped,
	// ErrPagefileNotSupplied, ErrFileNotSupplied, ErrDecommitted, ...).
	Err error
}

// ReadResult is the outcome of a ReadVirtual.
type ReadResult struct {
	N int // bytes served
	// Smear: the guest was running, so the cache was bypassed and the
	// pages may come from different moments (possible smear).
	Smear bool

	// A read within one page (the common case: a breakpoint's buffer, a
	// structure) keeps its one PageRead inline, so it allocates nothing.
	one   [1]PageRead
	pages []PageRead
	n     int
}

// Pages returns the outcome per piece of the buffer, in order.
func (r *ReadResult) Pages() []PageRead {
	if r.pages != nil {
		return r.pages[:r.n]
	}
	return r.one[:r.n]
}

// slot returns the next PageRead to fill.
func (r *ReadResult) slot() *PageRead {
	r.n++
	if r.pages != nil {
		return &r.pages[r.n-1]
	}
	return &r.one[0]
}

// Err returns the first page's error, or nil when every byte was served.
func (r *ReadResult) Err() error {
	for _, p := range r.Pages() {
		if p.Err != nil {
			return p.Err
		}
	}
	return nil
}

// ReadVirtual reads len(buf) bytes at va, page by page. It serves each page
// from wherever it is (RAM, a supplied paging file or mapped file, zeros
// for demand-zero pages), and reports per page what it could not serve and
// why. Unserved pieces are zero-filled but never presented as data: their
// PageRead has an error.
func (t *Translator) ReadVirtual(dtb, va uint64, buf []byte) ReadResult {
	gen, smear := t.state()
	var w walker // set up on the first cache miss
	res := ReadResult{Smear: smear}
	if n := pagesSpanned(va, len(buf)); n > 1 {
		res.pages = make([]PageRead, n)
	}
	// Pieces in RAM that follow each other physically too are read with one
	// physical read when the run ends: a large read of a paused guest is
	// mostly such runs, and each read through the target has a fixed cost.
	var run physRun
	var tally pageTally // pages by (state, TLB lookup), added once per run (stats.go)
	wrapped := false    // the buffer went past 2^64: what follows is not va
	for off := 0; off < len(buf); {
		n := min(len(buf)-off, int(pageSize-va&pageMask))
		// Filled in place: this loop is the data path, and PageRead is big.
		pr := res.slot()
		pr.VA, pr.Off, pr.Len = va, off, n
		if wrapped {
			// Never wrap to VA 0: those bytes are not at the address asked.
			pr.Location, pr.Err = Location{}, errPastTop(va)
			tally.add(&t.stats, pageIndex(PageErrAddress, lookupNone))
		} else if l, ok := t.cacheHit(dtb, va, gen, smear); ok {
			pr.Location = l.at(va & pageMask)
			tally.add(&t.stats, pageIndex(metaState(l.meta), lookupHit))
		} else {
			if w.t == nil {
				w = t.newWalker(nil, gen, smear)
			}
			pr.Err = w.translateTo(dtb, va, &pr.Location)
			lookup := lookupMiss
			if !w.cache {
				lookup = lookupNone
			}
			tally.add(&t.stats, pageIndex(pageState(pr.Location.State, pr.Location.PageSize, w.via, pr.Err), lookup))
		}
		if pr.Err == nil && inRAM(pr.Location.State) {
			if !run.extends(pr) {
				t.flush(&res, &run, buf)
				run = physRun{first: res.n - 1, pa: pr.Location.Addr, off: off}
			}
			run.n += n
		} else {
			t.flush(&res, &run, buf)
			t.serve(&res, pr, buf)
		}
		off += n
		va += uint64(n)
		wrapped = wrapped || va == 0
	}
	t.flush(&res, &run, buf)
	tally.flush(&t.stats)
	if w.t != nil {
		t.stats.addWalk(&w.counts)
	}
	return res
}

// errPastTop is the error of a piece of a read beyond the top of the
// address space, which a caller's length carried past 2^64.
func errPastTop(va uint64) error {
	return &AddressError{VA: va, Reason: "past the top of the address space: the read would wrap past 2^64"}
}

func inRAM(s State) bool { return s == StateValid || s == StateTransition }

// physRun is a run of pieces whose bytes are consecutive in guest-physical
// memory: pieces first, first+1, ... of the result, buf[off:off+n] from
// physical address pa.
type physRun struct {
	first, off, n int
	pa            uint64
}

// extends says whether pr's bytes follow the run's in physical memory.
func (r *physRun) extends(pr *PageRead) bool {
	return r.n > 0 && r.pa+uint64(r.n) == pr.Location.Addr
}

// flush reads a run with one physical read. If that read fails, each piece
// is read on its own, so which pieces fail, and why, is what page-by-page
// reads would have said.
func (t *Translator) flush(res *ReadResult, r *physRun, buf []byte) {
	if r.n == 0 {
		return
	}
	if readFull(t.phys, r.pa, buf[r.off:r.off+r.n]) == nil {
		res.N += r.n
	} else {
		pages := res.Pages()
		for i := r.first; i < len(pages) && pages[i].Off < r.off+r.n; i++ {
			t.serve(res, &pages[i], buf)
		}
	}
	r.n = 0
}

// serve reads one translated piece into its part of buf.
func (t *Translator) serve(res *ReadResult, pr *PageRead, buf []byte) {
	p := buf[pr.Off : pr.Off+pr.Len]
	if pr.Err == nil {
		pr.Err = t.readLocation(&pr.Location, p)
	}
	if pr.Err != nil {
		clear(p)
	} else {
		res.N += pr.Len
	}
}

func pagesSpanned(va uint64, n int) int {
	if n <= 0 {
		return 0
	}
	return int((va&pageMask+uint64(n)-1)>>pageShift) + 1
}

// readLocation reads bytes that start at loc and stay within its page.
func (t *Translator) readLocation(loc *Location, p []byte) error {
	switch loc.State {
	case StateValid, StateTransition:
		if err := readFull(t.phys, loc.Addr, p); err != nil {
			return fmt.Errorf("physical 0x%x: %w", loc.Addr, err)
		}
		return nil
	case StatePagefile:
		pf := t.pagefiles[loc.Pagefile]
		if pf.Data == nil {
			return fmt.Errorf("in pagefile %d at offset 0x%x: %w", loc.Pagefile, loc.Addr, ErrPagefileNotSupplied)
		}
		if err := readFull(pf.Data, loc.Addr, p); err != nil {
			return fmt.Errorf("pagefile %d at offset 0x%x: %w", loc.Pagefile, loc.Addr, err)
		}
		return nil
	case StateCompressed:
		return fmt.Errorf("in the virtual store (pagefile %d) at offset 0x%x: %w", loc.Pagefile, loc.Addr, ErrCompressed)
	case StateDemandZero:
		clear(p)
		return nil
	case StateFile:
		return readFile(*loc, p)
	case StateDecommitted:
		return ErrDecommitted
	case StateReserved:
		return ErrReserved
	case StateNotMapped:
		return ErrNotMapped
	}
	return fmt.Errorf("translate: no bytes in state %s", loc.State)
}

// readFile serves a file-backed piece; the part past the subsection's data
// is zeros, as the memory manager fills the tail of the last page.
func readFile(loc Location, p []byte) error {
	f := loc.File
	if f == nil {
		return fmt.Errorf("file offset 0x%x: %w", loc.Addr, ErrFileNotSupplied)
	}
	if f.data == nil {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("subsection 0x%x", f.Subsection)
		}
		err := f.err
		if err == nil {
			err = ErrFileNotSupplied
		}
		return fmt.Errorf("%s at offset 0x%x: %w", name, loc.Addr, err)
	}
	n := 0
	if loc.Addr < f.DataEnd {
		n = int(min(uint64(len(p)), f.DataEnd-loc.Addr))
		if err := readFull(f.data, loc.Addr, p[:n]); err != nil {
			return fmt.Errorf("%s at offset 0x%x: %w", f.Name, loc.Addr, err)
		}
	}
	clear(p[n:])
	return nil
}
