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
// that read it, and walks of a running guest neither read nor fill it. It
// is direct-mapped and bounded (slots × 4 KiB). Entries are immutable and
// swapped in whole through atomic pointers, as the TLB's are, so lookups
// take no lock.
type tableCache struct {
	slots []atomic.Pointer[tablePage]
	mask  uint64
}

// tablePage is one cached table page: its 512 raw entries as stored.
type tablePage struct {
	at      Where // page-aligned
	gen     uint64
	entries [entriesPerTable]uint64
}

// DefaultTableCachePages sizes the page-table cache: 64 pages (256 KiB)
// hold a sweep's four levels with room for several address spaces.
const DefaultTableCachePages = 64

func newTableCache(pages int) *tableCache {
	n := 1
	for n < pages {
		n <<= 1
	}
	return &tableCache{slots: make([]atomic.Pointer[tablePage], n), mask: uint64(n - 1)}
}

// slot indexes by frame, mixing in the paging file's number so a table
// paged out to offset x of file 1 and one to offset x of file 2 spread.
func (c *tableCache) slot(at Where) *atomic.Pointer[tablePage] {
	return &c.slots[(at.Addr>>pageShift+(uint64(at.Space)<<8|at.Pagefile)*0x9E3779B97F4A7C15)&c.mask]
}

// entry returns the raw entry at the table address at (page-aligned table
// plus index), if its page was read in generation gen.
func (c *tableCache) entry(at Where, gen uint64) (uint64, bool) {
	page := at
	page.Addr &^= pageMask
	p := c.slot(page).Load()
	if p == nil || p.gen != gen || p.at != page {
		return 0, false
	}
	return p.entries[at.Addr&pageMask/entrySize], true
}

// fill makes a cached page of the raw table bytes.
func (c *tableCache) fill(page Where, gen uint64, raw []byte) *tablePage {
	p := &tablePage{at: page, gen: gen}
	for i := range p.entries {
		p.entries[i] = binary.LittleEndian.Uint64(raw[i*entrySize:])
	}
	c.slot(page).Store(p)
	return p
}
