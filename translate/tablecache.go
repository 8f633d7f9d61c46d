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
// It is bounded (about the configured number of 4 KiB pages). Entries are
// immutable and swapped in whole through atomic pointers, as the TLB's
// are, so lookups take no lock.
type tableCache struct {
	levels [LevelPTE + 1][]atomic.Pointer[tablePage] // by the level of the entry read
}

// tablePage is one cached table page: its 512 raw entries as stored.
type tablePage struct {
	at      Where // page-aligned
	gen     uint64
	entries [entriesPerTable]uint64
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

// entry returns the raw entry at the table address at (page-aligned table
// plus index), if its page was read in generation gen.
func (c *tableCache) entry(level Level, at Where, gen uint64) (uint64, bool) {
	page := at
	page.Addr &^= pageMask
	p := c.slot(level, page).Load()
	if p == nil || p.gen != gen || p.at != page {
		return 0, false
	}
	return p.entries[at.Addr&pageMask/entrySize], true
}

// fill makes a cached page of the raw table bytes.
func (c *tableCache) fill(level Level, page Where, gen uint64, raw []byte) *tablePage {
	p := &tablePage{at: page, gen: gen}
	for i := range p.entries {
		p.entries[i] = binary.LittleEndian.Uint64(raw[i*entrySize:])
	}
	c.slot(level, page).Store(p)
	return p
}
