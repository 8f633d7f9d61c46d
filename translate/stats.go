package translate

import "sync/atomic"

// What a Translator counts for the metrics endpoint: TLB lookups and the
// pages ReadVirtual served, by the state of the page's PTE, plus the
// lookups of the walk's own caches (PDE cache, page-table cache).
//
// Only ReadVirtual counts: it is the data path (nt's structure reads,
// clients' reads, dumps). Translate and Vtop answer single questions; a
// locked add there would cost the uncached walk a tenth of its time.
//
// A locked instruction costs several nanoseconds on this machine, a
// sizeable share of a cached 4 KiB read, so the hot path takes as few as
// it can: ReadVirtual tallies (state, TLB outcome) pairs in a local run
// and adds each run once, so a one-page read makes one atomic add and a
// sweep one per change of state; the walker counts its cache lookups in
// plain fields and they are added once per call.

// PageState is how ReadVirtual found a page: the software state of its
// PTE as Windows' fault handler reads it, or why translation failed.
// Pages resolved through a prototype PTE are counted as prototype (or
// VAD prototype), whatever the prototype said, except those only in
// their mapped file (the subsection state), which are PageFile.
type PageState uint8

const (
	PageValid4K      PageState = iota // hardware-valid, 4 KiB page
	PageValid2M                       // hardware-valid, large page
	PageValid1G                       // hardware-valid, huge page
	PageTransition                    // in RAM on a standby or modified list
	PagePrototype                     // through the prototype PTE the PTE names
	PageVADPrototype                  // through the prototype PTE the VAD names (a zero PTE in a mapped view, or the lookup-needed marker)
	PageDemandZero                    // reads as zeros
	PagePagefile                      // in a paging file
	PageCompressed                    // in the virtual store
	PageFile                          // only in its mapped file (a subsection)
	PageDecommitted                   // no bytes
	PageReserved                      // no bytes: reserved, not committed
	PageNotMapped                     // no bytes: no VAD, a zero kernel entry, or P clear
	PageErrAddress                    // translation failed: the address (not canonical, past 2^64)
	PageErrRead                       // translation failed: a table, prototype PTE, subsection or VAD could not be read
	PageErrEntry                      // translation failed: an entry no state explains
	PageErrOther                      // translation failed otherwise
	NumPageStates                     // the number of PageStates
)

var pageStateNames = [NumPageStates]string{
	PageValid4K: "valid_4k", PageValid2M: "valid_2m", PageValid1G: "valid_1g", PageTransition: "transition",
	PagePrototype: "prototype", PageVADPrototype: "vad_prototype", PageDemandZero: "demand_zero",
	PagePagefile: "pagefile", PageCompressed: "compressed", PageFile: "file", PageDecommitted: "decommitted",
	PageReserved: "reserved", PageNotMapped: "not_mapped", PageErrAddress: "error_address",
	PageErrRead: "error_read", PageErrEntry: "error_entry", PageErrOther: "error_other",
}

// String is the state's name as a metric label: lower case, underscores.
func (s PageState) String() string {
	if s < NumPageStates {
		return pageStateNames[s]
	}
	return "unknown"
}

// Stats is a snapshot of a Translator's counters. Every field only grows.
type Stats struct {
	// TLBHits and TLBMisses count ReadVirtual's lookups, one per page, of
	// a stopped guest. Pages read while the guest runs, or with the TLB
	// disabled, make no lookup.
	TLBHits, TLBMisses uint64
	// PDEHits and PDEMisses count the PDE cache's lookups, one per walk
	// of a stopped guest; TableHits and TableMisses the page-table
	// cache's, one per entry a walk reads (nested walks included).
	PDEHits, PDEMisses     uint64
	TableHits, TableMisses uint64
	// Pages counts the pages ReadVirtual served, by PageState.
	Pages [NumPageStates]uint64
}

// Add returns the sum of two snapshots (a session's two translators).
func (s Stats) Add(o Stats) Stats {
	s.TLBHits += o.TLBHits
	s.TLBMisses += o.TLBMisses
	s.PDEHits += o.PDEHits
	s.PDEMisses += o.PDEMisses
	s.TableHits += o.TableHits
	s.TableMisses += o.TableMisses
	for i := range s.Pages {
		s.Pages[i] += o.Pages[i]
	}
	return s
}

// Stats reads the counters. Each is read atomically, not all at once: a
// read that runs meanwhile may show in one and not yet in another.
func (t *Translator) Stats() Stats {
	c := &t.stats
	var s Stats
	for st := range NumPageStates {
		hit := c.pages[pageIndex(st, lookupHit)].Load()
		miss := c.pages[pageIndex(st, lookupMiss)].Load()
		s.TLBHits += hit
		s.TLBMisses += miss
		s.Pages[st] = hit + miss + c.pages[pageIndex(st, lookupNone)].Load()
	}
	s.PDEHits, s.PDEMisses = c.pdeHit.Load(), c.pdeMiss.Load()
	s.TableHits, s.TableMisses = c.tableHit.Load(), c.tableMiss.Load()
	return s
}

// The TLB outcome of a page read: a page is counted once, under its state
// and its lookup, so one add records both.
const (
	lookupHit = iota
	lookupMiss
	lookupNone // no lookup: the guest runs, the TLB is off, or the read wrapped
	numLookups
)

func pageIndex(st PageState, lookup int) int { return int(st)*numLookups + lookup }

// counters are a Translator's. They sit between pads so the adds never
// share a cache line with what every read loads (the generation, the
// running flag).
type counters struct {
	_                   [64]byte
	pages               [int(NumPageStates) * numLookups]atomic.Uint64
	pdeHit, pdeMiss     atomic.Uint64
	tableHit, tableMiss atomic.Uint64
	_                   [64]byte
}

// walkCounts are a walker's cache lookups, in plain fields: the walker is
// one call's, on its stack. A nested walker starts from a copy and hands
// its counts back (see nested).
type walkCounts struct {
	pdeHit, pdeMiss, tableHit, tableMiss uint32
}

// addWalk adds one call's walk-cache lookups.
func (c *counters) addWalk(w *walkCounts) {
	addNonZero(&c.pdeHit, w.pdeHit)
	addNonZero(&c.pdeMiss, w.pdeMiss)
	addNonZero(&c.tableHit, w.tableHit)
	addNonZero(&c.tableMiss, w.tableMiss)
}

func addNonZero(c *atomic.Uint64, n uint32) {
	if n != 0 {
		c.Add(uint64(n))
	}
}

// pageTally is ReadVirtual's run of pages with the same index.
type pageTally struct {
	index, n int
}

// add counts one page; a change of index adds the run so far.
func (p *pageTally) add(c *counters, index int) {
	if p.n > 0 && p.index == index {
		p.n++
		return
	}
	p.flush(c)
	p.index, p.n = index, 1
}

func (p *pageTally) flush(c *counters) {
	if p.n > 0 {
		c.pages[p.index].Add(uint64(p.n))
		p.n = 0
	}
}

// How a walk reached its page, kept in the TLB's slot beside the page so
// a hit is counted under the same state as the walk that filled it.
const (
	viaPTE          = iota // the page's own PTE
	viaPrototype           // the prototype PTE the PTE names
	viaVADPrototype        // the prototype PTE the VAD names
)

// pageState classifies a page ReadVirtual translated.
func pageState(st State, size uint64, via uint8, err error) PageState {
	if err != nil {
		return errorState(err)
	}
	if st == StateFile {
		return PageFile
	}
	switch via {
	case viaPrototype:
		return PagePrototype
	case viaVADPrototype:
		return PageVADPrototype
	}
	switch st {
	case StateValid:
		switch size {
		case 1 << 21:
			return PageValid2M
		case 1 << 30:
			return PageValid1G
		}
		return PageValid4K
	case StateTransition:
		return PageTransition
	case StatePagefile:
		return PagePagefile
	case StateCompressed:
		return PageCompressed
	case StateDemandZero:
		return PageDemandZero
	case StateDecommitted:
		return PageDecommitted
	case StateReserved:
		return PageReserved
	case StateNotMapped:
		return PageNotMapped
	}
	// A location without an error is never StateUnknown; should one be,
	// it is counted, not hidden.
	return PageErrOther
}

// errorState is the kind of a translation error. Walks return these types
// unwrapped, so a type switch suffices, and it costs nothing on the
// pages that translate.
func errorState(err error) PageState {
	switch err.(type) {
	case *AddressError:
		return PageErrAddress
	case *ReadError:
		return PageErrRead
	case *EntryError:
		return PageErrEntry
	}
	return PageErrOther
}

// metaState classifies a TLB hit from its slot's packed meta word.
func metaState(meta uint64) PageState {
	return pageState(State(meta), sizeOfCode(meta>>8&0xff), uint8(meta>>metaViaShift&3), nil)
}

// metaViaShift places the via code in the TLB slot's meta word, above the
// paging-file number and below metaFilled.
const metaViaShift = 48
