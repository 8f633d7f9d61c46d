package translate

import "sync"

// tlb caches page translations keyed by (dtb, page, generation). The
// generation is the Translator's: bumped on every resume, so an entry is
// served only within the stop that made it. Direct-mapped and sharded by
// page, so neighbouring pages take different locks: a miss costs one walk,
// and a walk is cheap, so nothing fancier pays.
type tlb struct {
	shards [tlbShards]tlbShard
}

const tlbShards = 8

type tlbShard struct {
	mu      sync.Mutex
	entries []tlbEntry
	mask    uint64
}

type tlbEntry struct {
	dtb, page, gen uint64
	used           bool
	loc            Location
}

func newTLB(entries int) *tlb {
	per := 1
	for per*tlbShards < entries {
		per <<= 1
	}
	c := &tlb{}
	for i := range c.shards {
		c.shards[i].entries = make([]tlbEntry, per)
		c.shards[i].mask = uint64(per - 1)
	}
	return c
}

// slot indexes by page number, as a hardware TLB does, so a run of
// consecutive pages never evicts itself; the DTB only offsets the index,
// so address spaces spread over the cache.
func (c *tlb) slot(dtb, page uint64) (*tlbShard, uint64) {
	i := page>>pageShift + (dtb>>pageShift)*0x9E3779B97F4A7C15
	s := &c.shards[i%tlbShards]
	return s, (i / tlbShards) & s.mask
}

func (c *tlb) get(dtb, page, gen uint64) (Location, bool) {
	s, i := c.slot(dtb, page)
	s.mu.Lock()
	e := &s.entries[i]
	if e.used && e.dtb == dtb && e.page == page && e.gen == gen {
		loc := e.loc
		s.mu.Unlock()
		return loc, true
	}
	s.mu.Unlock()
	return Location{}, false
}

func (c *tlb) put(dtb, page, gen uint64, loc Location) {
	s, i := c.slot(dtb, page)
	s.mu.Lock()
	s.entries[i] = tlbEntry{dtb: dtb, page: page, gen: gen, used: true, loc: loc}
	s.mu.Unlock()
}
