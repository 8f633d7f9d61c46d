package translate

import "sync/atomic"

// tlb caches page translations keyed by (dtb, page, generation). The
// generation is the Translator's: bumped on every resume, so an entry is
// served only within the stop that made it. Direct-mapped: a miss costs
// one walk, and a walk is cheap, so nothing fancier pays.
//
// Entries are immutable and swapped in whole through atomic pointers, so a
// hit takes no lock: the cached path must stay far cheaper than a walk.
type tlb struct {
	slots []atomic.Pointer[tlbEntry]
	mask  uint64
}

type tlbEntry struct {
	dtb, page, gen uint64
	loc            Location
}

func newTLB(entries int) *tlb {
	n := 1
	for n < entries {
		n <<= 1
	}
	return &tlb{slots: make([]atomic.Pointer[tlbEntry], n), mask: uint64(n - 1)}
}

// slot indexes by page number, as a hardware TLB does, so a run of
// consecutive pages never evicts itself; the DTB only offsets the index,
// so address spaces spread over the cache.
func (c *tlb) slot(dtb, page uint64) *atomic.Pointer[tlbEntry] {
	return &c.slots[(page>>pageShift+(dtb>>pageShift)*0x9E3779B97F4A7C15)&c.mask]
}

func (c *tlb) get(dtb, page, gen uint64) *tlbEntry {
	e := c.slot(dtb, page).Load()
	if e != nil && e.page == page && e.dtb == dtb && e.gen == gen {
		return e
	}
	return nil
}

func (c *tlb) put(dtb, page, gen uint64, loc Location) {
	c.slot(dtb, page).Store(&tlbEntry{dtb: dtb, page: page, gen: gen, loc: loc})
}
