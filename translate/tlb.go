package translate

import (
	"math/bits"
	"sync/atomic"
)

// tlb caches page translations keyed by (dtb, page, generation). The
// generation is the Translator's: bumped on every resume, so an entry is
// served only within the stop that made it. Direct-mapped: a miss costs
// one walk, and a walk is cheap, so nothing fancier pays.
//
// Each slot holds its entry inline, one cache line, under a sequence
// count (a seqlock), so neither a hit nor a fill takes a lock or
// allocates. Entries used to be immutable heap objects behind atomic
// pointers: a sweep larger than the TLB then allocated an entry per page,
// each written to memory the cache had not seen, and the cached sweep ran
// at several times the cost of walking with no cache at all.
type tlb struct {
	slots []tlbSlot
	mask  uint64
}

// tlbSlot is one entry. seq is odd while a fill writes it; a reader takes
// the fields only if seq was even and unchanged around its loads. Every
// field is atomic so the protocol is data-race free as Go defines it.
type tlbSlot struct {
	seq            atomic.Uint64
	dtb, page, gen atomic.Uint64
	addr           atomic.Uint64
	meta           atomic.Uint64 // state | sizeCode(PageSize)<<8 | Protection<<16 | Pagefile<<32 | via<<48 | metaFilled
	protoPTE       atomic.Uint64
	_              uint64 // to a cache line
}

// metaFilled marks a slot a fill has written: a zero slot's key (DTB 0,
// page 0, generation 0) must not answer.
const metaFilled = 1 << 63

// pageLoc is a cached page's Location, without a File, as the slot keeps
// it. It is three words, not a struct of Location's fields: a struct
// returned through a few calls was copied in 16-byte moves over fields
// just written one by one, and every such copy stalled (no store
// forwarding), which made a TLB hit cost more than four loads.
type pageLoc struct{ addr, meta, protoPTE uint64 }

// at is the Location of the byte off bytes into the page.
func (l pageLoc) at(off uint64) Location {
	st := State(l.meta)
	addr := l.addr
	switch st {
	case StateValid, StateTransition, StatePagefile, StateCompressed:
		addr += off
	}
	return Location{
		State: st, Addr: addr, Pagefile: l.meta >> 32 & 0xffff, PageSize: sizeOfCode(l.meta >> 8 & 0xff),
		Protection: l.meta >> 16 & 0xffff, PrototypePTE: l.protoPTE,
	}
}

func newTLB(entries int) *tlb {
	n := 1
	for n < entries {
		n <<= 1
	}
	return &tlb{slots: make([]tlbSlot, n), mask: uint64(n - 1)}
}

// slot indexes by page number, as a hardware TLB does, so a run of
// consecutive pages never evicts itself; the DTB only offsets the index,
// so address spaces spread over the cache.
func (c *tlb) slot(dtb, page uint64) *tlbSlot {
	return &c.slots[(page>>pageShift+(dtb>>pageShift)*0x9E3779B97F4A7C15)&c.mask]
}

func (c *tlb) get(dtb, page, gen uint64) (pageLoc, bool) {
	s := c.slot(dtb, page)
	seq := s.seq.Load()
	if seq&1 != 0 || s.page.Load() != page || s.dtb.Load() != dtb || s.gen.Load() != gen {
		return pageLoc{}, false
	}
	l := pageLoc{addr: s.addr.Load(), meta: s.meta.Load(), protoPTE: s.protoPTE.Load()}
	if l.meta&metaFilled == 0 || s.seq.Load() != seq {
		return pageLoc{}, false // never filled, or a fill raced this read: walk instead
	}
	return l, true
}

// put caches loc for the page. Locations the slot cannot hold are left to
// the walk: a File (a page only in its mapped file, whose read costs far
// more than the walk), and fields wider than the slot keeps (a page size
// that is not a power of two, a protection or paging-file number past 16
// bits; Windows' are 5 and 4 bits). If another fill holds the slot, this
// one gives way: the cache may always say less.
func (c *tlb) put(dtb, page, gen uint64, loc *Location) { c.putVia(dtb, page, gen, loc, viaPTE) }

// putVia is put with how the walk reached the page, so a hit is counted
// under the walk's state (stats.go).
func (c *tlb) putVia(dtb, page, gen uint64, loc *Location, via uint8) {
	if loc.File != nil || loc.PageSize&(loc.PageSize-1) != 0 ||
		loc.Protection > 0xffff || loc.Pagefile > 0xffff {
		return
	}
	meta := uint64(loc.State) | sizeCode(loc.PageSize)<<8 | loc.Protection<<16 | loc.Pagefile<<32 |
		uint64(via&3)<<metaViaShift | metaFilled
	s := c.slot(dtb, page)
	if c.streaming(s, dtb, page, gen) {
		return
	}
	seq := s.seq.Load()
	if seq&1 != 0 || !s.seq.CompareAndSwap(seq, seq+1) {
		return
	}
	// Each atomic store is a locked instruction, which made a fill cost
	// as much as a walk; a sweep refills slots with the same DTB,
	// generation and kind of page, so only the words that change are
	// written. Holding the odd count, this fill is the slot's only writer.
	storeChanged(&s.dtb, dtb)
	storeChanged(&s.page, page)
	storeChanged(&s.gen, gen)
	storeChanged(&s.addr, loc.Addr)
	storeChanged(&s.meta, meta)
	storeChanged(&s.protoPTE, loc.PrototypePTE)
	s.seq.Store(seq + 2)
}

// storeChanged stores v in w unless w holds it already.
func storeChanged(w *atomic.Uint64, v uint64) {
	if w.Load() != v {
		w.Store(v)
	}
}

// sizeCode packs a page size that is 0 or a power of two: 0, or log2+1.
func sizeCode(size uint64) uint64 {
	if size == 0 {
		return 0
	}
	return uint64(bits.TrailingZeros64(size)) + 1
}

func sizeOfCode(code uint64) uint64 {
	if code == 0 {
		return 0
	}
	return 1 << (code - 1)
}

// streaming says whether the slot holds, from this generation and address
// space, the page exactly one TLB's span below page: the mark of a
// sequential sweep larger than the TLB, which evicts every entry before
// it is used. Such a fill is skipped, as processors skip caching streamed
// data: a fill costs several locked instructions, more than the walk it
// would spare, and keeping the older entry lets a repeated sweep still
// hit on it. Random accesses rarely conflict at exactly that distance.
// The loads are unsynchronised hints: a torn view only decides a fill.
func (c *tlb) streaming(s *tlbSlot, dtb, page, gen uint64) bool {
	span := (c.mask + 1) << pageShift
	return page >= span && s.page.Load() == page-span && s.gen.Load() == gen && s.dtb.Load() == dtb
}
