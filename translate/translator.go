package translate

import (
	"cmp"
	"io"
	"math"
	"sync"
	"sync/atomic"
)

// Config is everything a Translator reads from. Only Layout and Physical
// are required; without the optional resolvers the states that need them
// are reported, never guessed.
type Config struct {
	Layout      *Layout
	SwizzleMask uint64   // see SwizzleMask
	Physical    Physical // guest-physical memory

	// KernelDTB translates the kernel VAs translation itself needs
	// (prototype PTEs in paged pool, subsections in nonpaged pool). 0 means
	// the DTB being translated, whose kernel half Windows shares.
	KernelDTB uint64
	VADs      VADResolver         // nil: zero user entries cannot be resolved
	Pagefiles map[uint64]Pagefile // by PageFileLow
	Files     FileResolver        // nil: file-backed pages are located, not read

	// TLBEntries sizes the translation cache: 0 means DefaultTLBEntries, a
	// negative value disables it. A Translator without a TLB caches
	// nothing at all (no page-table pages either): that is how callers
	// that never say when the guest runs (Resumed, Stopped) stay correct.
	TLBEntries int
	// TableCachePages sizes the page-table cache, in 4 KiB table pages:
	// 0 means DefaultTableCachePages, a negative value disables it.
	TableCachePages int
}

// DefaultTLBEntries is the translation cache's default size in pages.
const DefaultTLBEntries = 1024

// Translator translates and reads virtual memory of one guest. It is safe
// for concurrent use.
type Translator struct {
	model     Model
	dec       decoder
	phys      Physical
	entries   EntryReader // phys's fast path for one entry, nil if it has none
	kernelDTB uint64
	vads      VADResolver
	pagefiles map[uint64]Pagefile
	files     FileResolver
	tlb       *tlb
	tables    *tableCache // nil: every walk reads its entries afresh
	pdes      *pdeCache   // nil: every walk starts at the PML4
	scratch   sync.Pool   // *[pageSize]byte: a table page being read into the cache

	// generation tags cached translations: Resumed bumps it, so nothing
	// cached before the guest ran is served after.
	generation atomic.Uint64
	running    atomic.Bool

	stats counters // what ReadVirtual counts (stats.go)
}

// New checks cfg and makes a Translator that decodes entries as Windows
// does (ModelWindows).
func New(cfg Config) (*Translator, error) {
	if cfg.Layout == nil {
		return nil, &ConfigError{Reason: "no Layout"}
	}
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	return newTranslator(cfg, ModelWindows)
}

// newTranslator makes a Translator of either model from a checked cfg.
func newTranslator(cfg Config, model Model) (*Translator, error) {
	if cfg.Physical == nil {
		return nil, &ConfigError{Reason: "no physical-memory reader"}
	}
	t := &Translator{
		model:     model,
		dec:       newDecoder(cfg.Layout, cfg.SwizzleMask),
		phys:      cfg.Physical,
		kernelDTB: cfg.KernelDTB,
		vads:      cfg.VADs,
		files:     cfg.Files,
		pagefiles: make(map[uint64]Pagefile, len(cfg.Pagefiles)),
	}
	t.entries, _ = cfg.Physical.(EntryReader)
	if model == ModelX86 {
		t.dec = newHardwareDecoder(cfg.Layout)
	}
	// A copy, so a caller that keeps editing its map cannot race the walks.
	for n, pf := range cfg.Pagefiles {
		if n > cfg.Layout.PageFileLow.Mask()>>cfg.Layout.PageFileLow.Pos {
			return nil, &ConfigError{Reason: "paging file number does not fit PageFileLow"}
		}
		t.pagefiles[n] = pf
	}
	switch {
	case cfg.TLBEntries == 0:
		t.tlb = newTLB(DefaultTLBEntries)
	case cfg.TLBEntries > 0:
		t.tlb = newTLB(cfg.TLBEntries)
	}
	if t.tlb != nil && cfg.TableCachePages >= 0 {
		t.tables = newTableCache(cmp.Or(cfg.TableCachePages, DefaultTableCachePages))
		t.pdes = new(pdeCache)
	}
	t.scratch.New = func() any { return new([pageSize]byte) }
	return t, nil
}

// Model says how the Translator decodes entries.
func (t *Translator) Model() Model { return t.model }

// Resumed tells the Translator the guest is about to run: translations
// cached so far become stale, and reads bypass the cache (and report a
// possible smear) until Stopped. vmi calls it on every resume.
func (t *Translator) Resumed() {
	t.generation.Add(1)
	t.running.Store(true)
}

// Stopped tells the Translator the guest is stopped (a breakpoint, a step,
// QMP stop): translations are cached again, for this generation only.
func (t *Translator) Stopped() { t.running.Store(false) }

// Generation is the current cache generation.
func (t *Translator) Generation() uint64 { return t.generation.Load() }

// Translate locates the byte at va in the address space whose page tables
// start at dtb. The error says why the location is StateUnknown; a
// location without bytes (not mapped, decommitted, ...) is not an error.
func (t *Translator) Translate(dtb, va uint64) (Location, error) {
	gen, smear := t.state()
	if l, ok := t.cacheHit(dtb, va, gen, smear); ok {
		return l.at(va & pageMask), nil
	}
	// The walker lives on this stack: a translation allocates nothing
	// unless it reads through a plain io.ReaderAt (see walker.scratch).
	w := t.newWalker(nil, gen, smear)
	var loc Location
	err := w.translateTo(dtb, va, &loc)
	return loc, err
}

// Vtop translates va and explains every step, like Rekall's vtop. It
// always walks and reads every entry from its table: the TLB has no steps
// to show, and the steps say what the tables hold now, not what a cached
// copy of them held.
func (t *Translator) Vtop(dtb, va uint64) *Provenance {
	gen, smear := t.state()
	p := &Provenance{VA: va, DTB: dtb, Smear: smear, Model: t.model}
	w := t.newWalker(&p.Steps, gen, smear)
	p.Location, p.Err = w.translate(dtb, va)
	return p
}

// state reads the generation before the running flag: a walk that races a
// resume tags its entries with the old generation, which the resume has
// already made stale.
func (t *Translator) state() (gen uint64, running bool) {
	gen = t.generation.Load()
	return gen, t.running.Load()
}

// cacheHit is the TLB's entry for va's page when the guest is stopped.
func (t *Translator) cacheHit(dtb, va, gen uint64, running bool) (pageLoc, bool) {
	if t.tlb == nil || running {
		return pageLoc{}, false
	}
	return t.tlb.get(dtb, va&^uint64(pageMask), gen)
}

// newWalker returns a walker by value, so callers keep it on their stack.
func (t *Translator) newWalker(steps *[]Step, gen uint64, running bool) walker {
	return walker{t: t, steps: steps, gen: gen, smear: running, cache: t.tlb != nil && !running}
}

// readFull reads all of p at off, accepting io.EOF with a full read as
// io.ReaderAt allows.
func readFull(r io.ReaderAt, off uint64, p []byte) error {
	if off > math.MaxInt64 || off+uint64(len(p)) < off {
		return io.ErrUnexpectedEOF
	}
	n, err := r.ReadAt(p, int64(off))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
