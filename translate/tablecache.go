package translate

import (
	"encoding/binary"
	"sync/atomic"
)

// tableCache holds whole page-table pages (PML4, PDPT, PD, PT), keyed by
// where the table is and the generation, like the CPU's paging-structure
// caches. The TLB holds one translation per page, so a sweep larger than
// it misses on every page; without this cache each miss read all four
// levels, 8 bytes at a time, through the physical reader. With it,
// neighbouring pages share the table reads: a sweep reads each table page
// once per generation and indexes into it.
//
// It follows the TLB's rule: an entry serves only within the generation
// that read it, and walks of a running guest neither read nor fill it.
// Each level has its own direct-mapped slots, so a sweep's page tables,
// which replace each other every 2 MiB, never evict the page directory
// above them: with one shared array, a page table landing in the page
// directory's slot made every page of its 2 MiB read both tables again.
// It is bounded (about the configured number of 4 KiB pages).
//
// A slot's page is allocated on its first fill and reused by every later
// one, under a sequence count as the TLB's slots are: lookups take no
// lock, and a fill writes only the entries that changed. Filling a fresh
// page each time wrote 4 KiB of memory no cache had seen (a page fault
// after the collector returned it), which cost more per sweep than the
// reads the cache saves; a new generation's refill of the same table now
// writes nothing but its tag.
type tableCache struct {
	levels [LevelPTE + 1][]atomic.Pointer[tablePage] // by the level of the entry read
}

// tablePage is one cached table page: where it was read, in which
// generation, and its 512 raw entries as stored. seq is odd while a fill
// writes it.
type tablePage struct {
	seq     atomic.Uint64
	addr    atomic.Uint64 // page-aligned
	space   atomic.Uint64 // Space | Pagefile<<8
	gen     atomic.Uint64
	entries [entriesPerTable]atomic.Uint64
}

// DefaultTableCachePages sizes the page-table cache: 64 pages (256 KiB),
// of which half hold page tables, a quarter page directories and an
// eighth each PDPTs and PML4s, as a walk meets more tables the lower it
// goes; room for several address spaces.
const DefaultTableCachePages = 64

// tableShare is each level's share of the cache, as a right shift.
var tableShare = [...]uint{LevelPML4E: 3, LevelPDPTE: 3, LevelPDE: 2, LevelPTE: 1}

func newTableCache(pages int) *tableCache {
	c := &tableCache{}
	for level := LevelPML4E; level <= LevelPTE; level++ {
		n := 1
		for n < pages>>tableShare[level] {
			n <<= 1
		}
		c.levels[level] = make([]atomic.Pointer[tablePage], n)
	}
	return c
}

// slot indexes by frame, mixing in the space and the paging file's number
// so a table paged out to offset x of file 1 and one at frame x spread.
func (c *tableCache) slot(level Level, at Where) *atomic.Pointer[tablePage] {
	slots := c.levels[level]
	return &slots[(at.Addr>>pageShift+(uint64(at.Space)<<8|at.Pagefile)*0x9E3779B97F4A7C15)&uint64(len(slots)-1)]
}

// spaceKey packs a Where's space and paging file for the slot's tag.
func spaceKey(at Where) uint64 { return uint64(at.Space) | at.Pagefile<<8 }

// holds says whether p holds the table page at page, read in gen. Only
// meaningful between two equal, even reads of p.seq.
func (p *tablePage) holds(page Where, gen uint64) bool {
	return p.addr.Load() == page.Addr && p.gen.Load() == gen && p.space.Load() == spaceKey(page)
}

// entry returns the raw entry at the table address at (page-aligned table
// plus index), if its page was read in generation gen.
func (c *tableCache) entry(level Level, at Where, gen uint64) (uint64, bool) {
	page := at
	page.Addr &^= pageMask
	p := c.slot(level, page).Load()
	if p == nil {
		return 0, false
	}
	seq := p.seq.Load()
	if seq&1 != 0 || !p.holds(page, gen) {
		return 0, false
	}
	v := p.entries[at.Addr&pageMask/entrySize].Load()
	if p.seq.Load() != seq {
		return 0, false // a fill raced this read
	}
	return v, true
}

// fill caches the raw table bytes of the page at page, read in gen. If
// another fill holds the slot, this one gives way: the cache may always
// say less.
func (c *tableCache) fill(level Level, page Where, gen uint64, raw []byte) {
	slot := c.slot(level, page)
	p := slot.Load()
	var seq uint64
	if p == nil {
		// Published already held (odd): its zero tag would otherwise
		// answer for the table at physical 0 in generation 0.
		p = new(tablePage)
		p.seq.Store(1)
		if !slot.CompareAndSwap(nil, p) {
			return
		}
	} else if seq = p.seq.Load(); seq&1 != 0 || !p.seq.CompareAndSwap(seq, seq+1) {
		return
	}
	for i := range p.entries {
		storeChanged(&p.entries[i], binary.LittleEndian.Uint64(raw[i*entrySize:]))
	}
	storeChanged(&p.addr, page.Addr)
	storeChanged(&p.space, spaceKey(page))
	p.gen.Store(gen)
	p.seq.Store(seq + 2)
}
