package translate

import "sync/atomic"

// pdeCache remembers, per 2 MiB region of an address space, the page
// table its page-directory entry points to, as a processor's
// paging-structure cache does: a TLB miss in a region walked before reads
// one entry, the PTE, instead of four. It follows the TLB's rule (only
// within the generation that filled it, never for a running guest, never
// for Vtop) and holds only regions whose PML4E, PDPTE and PDE were all
// valid and pointed to a page table in RAM; anything else walks in full.
//
// A sweep larger than the TLB misses on every page; without this, each
// miss walked all four levels, and the cached sweep cost more than no
// cache at all. Fills happen once per region, so their locked
// instructions do not matter; slots are inline under a sequence count.
type pdeCache struct {
	slots [pdeSlots]pdeSlot
}

// pdeSlots covers 128 MiB of one address space, or regions of several.
const pdeSlots = 64

type pdeSlot struct {
	seq              atomic.Uint64 // odd while a fill writes
	dtb, region, gen atomic.Uint64
	table            atomic.Uint64 // page table's physical address | pdeFilled
	_                [3]uint64     // to a cache line
}

// pdeFilled marks a written slot: a zero slot must not answer for DTB 0,
// region 0, generation 0.
const pdeFilled = 1

func (c *pdeCache) slot(dtb, region uint64) *pdeSlot {
	return &c.slots[(region+(dtb>>pageShift)*0x9E3779B97F4A7C15)&(pdeSlots-1)]
}

// get returns the physical address of the page table for va's region.
func (c *pdeCache) get(dtb, va, gen uint64) (uint64, bool) {
	region := va >> levelShift[LevelPDE]
	s := c.slot(dtb, region)
	seq := s.seq.Load()
	if seq&1 != 0 || s.region.Load() != region || s.dtb.Load() != dtb || s.gen.Load() != gen {
		return 0, false
	}
	table := s.table.Load()
	if table&pdeFilled == 0 || s.seq.Load() != seq {
		return 0, false
	}
	return table &^ pdeFilled, true
}

// put records that va's region's page table is at the physical address
// table. A fill that finds the slot being written gives way.
func (c *pdeCache) put(dtb, va, gen, table uint64) {
	region := va >> levelShift[LevelPDE]
	s := c.slot(dtb, region)
	seq := s.seq.Load()
	if seq&1 != 0 || !s.seq.CompareAndSwap(seq, seq+1) {
		return
	}
	storeChanged(&s.dtb, dtb)
	storeChanged(&s.region, region)
	storeChanged(&s.gen, gen)
	storeChanged(&s.table, table|pdeFilled)
	s.seq.Store(seq + 2)
}
