package translate

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
)

// countingMem counts the reads that reach physical memory: entry-sized
// ones (a walk reading one entry) and page-sized ones (a table page read
// into the cache, or a data page).
type countingMem struct {
	r            Physical
	small, pages atomic.Int64
}

func (m *countingMem) ReadAt(p []byte, off int64) (int, error) {
	if len(p) <= entrySize {
		m.small.Add(1)
	} else {
		m.pages.Add(1)
	}
	return m.r.ReadAt(p, off)
}

func (m *countingMem) reset() { m.small.Store(0); m.pages.Store(0) }

// sweepGuest maps n consecutive pages at userVA (one page table holds 512
// of them) and returns a translator with a 1-entry TLB over counted
// memory, so every new page misses the TLB and only the page-table cache
// can spare the walk its reads.
func sweepGuest(t *testing.T, n uint64, opts ...func(*Config)) (*builder, uint64, *countingMem, *Translator) {
	b := newBuilder(t, testLayout(36), mask46)
	dtb := b.newDTB()
	for i := range n {
		b.mapNew(dtb, userVA+i*pageSize, pattern(i))
	}
	mem := &countingMem{r: b.mem}
	tr := b.translator(mask46, append([]func(*Config){func(c *Config) { c.Physical = mem; c.TLBEntries = 1 }}, opts...)...)
	return b, dtb, mem, tr
}

// TestTableCacheHits: within one generation the four table pages are read
// once and every further page of the sweep walks without reading an entry.
func TestTableCacheHits(t *testing.T) {
	const n = 64
	_, dtb, mem, tr := sweepGuest(t, n)
	buf := make([]byte, n*pageSize)
	res := tr.ReadVirtual(dtb, userVA, buf)
	if res.Err() != nil || res.N != len(buf) {
		t.Fatalf("ReadVirtual: %d bytes, %v", res.N, res.Err())
	}
	for i := range uint64(n) {
		if !bytes.Equal(buf[i*pageSize:(i+1)*pageSize], pattern(i)) {
			t.Fatalf("page %d differs", i)
		}
	}
	// 4 table pages + the data pages; no entry read on its own.
	if s, p := mem.small.Load(), mem.pages.Load(); s != 0 || p > 4+n {
		t.Fatalf("%d entry reads and %d page reads for %d pages, want 0 and at most %d", s, p, n, 4+n)
	}
	// Translations of other pages of the same tables hit the cache too.
	mem.reset()
	for i := range uint64(n) {
		if loc, err := tr.Translate(dtb, userVA+i*pageSize); err != nil || loc.State != StateValid {
			t.Fatalf("page %d: %+v %v", i, loc, err)
		}
	}
	if s, p := mem.small.Load(), mem.pages.Load(); s != 0 || p != 0 {
		t.Fatalf("warm: %d entry reads and %d page reads, want none", s, p)
	}

	// The same sweep without the page-table cache: four entries per page.
	_, dtb, mem, tr = sweepGuest(t, n, func(c *Config) { c.TableCachePages = -1 })
	tr.ReadVirtual(dtb, userVA, buf)
	if s := mem.small.Load(); s != 4*n {
		t.Fatalf("without the cache: %d entry reads, want %d", s, 4*n)
	}
}

// TestTableCacheGenerations: a resume makes every cached table stale; a
// running guest's walks neither use nor fill the cache; a page table the
// guest changed is seen once it stops again, and not before (the TLB's
// rule: what a stop cached serves that stop).
func TestTableCacheGenerations(t *testing.T) {
	b, dtb, mem, tr := sweepGuest(t, 8)
	va := func(i uint64) uint64 { return userVA + i*pageSize }
	if loc, _ := tr.Translate(dtb, va(0)); loc.State != StateValid {
		t.Fatal(loc)
	}
	// The guest remaps page 1 while stopped, without Frost knowing. Page 1
	// was never translated (not in the TLB), but its page table is cached.
	moved := b.alloc()
	b.mem.write(moved, pattern(100))
	b.mapPage(dtb, va(1), moved)
	if loc, _ := tr.Translate(dtb, va(1)); loc.Addr == moved {
		t.Fatalf("within one stop the cached table is served, got the new mapping %+v", loc)
	}
	// Vtop reads the tables themselves, whatever is cached.
	if p := tr.Vtop(dtb, va(1)); p.Location.Addr != moved {
		t.Fatalf("Vtop: %+v", p.Location)
	}

	// Running: every walk reads its four entries, nothing is cached.
	tr.Resumed()
	mem.reset()
	for i := range uint64(8) {
		res := tr.ReadVirtual(dtb, va(i), make([]byte, 8))
		if !res.Smear || res.Err() != nil {
			t.Fatalf("running, page %d: %+v", i, res)
		}
	}
	if s := mem.small.Load(); s != 4*8+8 { // 4 entries and the 8 data bytes per page
		t.Fatalf("running: %d entry-sized reads, want %d", s, 4*8+8)
	}
	if loc, _ := tr.Translate(dtb, va(1)); loc.Addr != moved {
		t.Fatalf("running: %+v", loc)
	}
	// A change while running shows at once.
	b.mapPage(dtb, va(2), moved)
	if loc, _ := tr.Translate(dtb, va(2)); loc.Addr != moved {
		t.Fatalf("running, remapped: %+v", loc)
	}
	for _, slots := range tr.tables.levels {
		for i := range slots {
			if p := slots[i].Load(); p != nil && p.gen.Load() == tr.Generation() {
				t.Fatalf("a running walk filled the cache: 0x%x", p.addr.Load())
			}
		}
	}

	// Stopped again: a new generation, the new tables are read and cached.
	tr.Stopped()
	mem.reset()
	for _, i := range []uint64{1, 2, 3} {
		loc, err := tr.Translate(dtb, va(i))
		want := b.l.PageFrameNumber.Get(b.mem.read64(b.entryPA(dtb, va(i), LevelPTE))) << pageShift
		if err != nil || loc.Addr != want {
			t.Fatalf("stopped again, page %d: %+v %v, want 0x%x", i, loc, err, want)
		}
	}
	if s, p := mem.small.Load(), mem.pages.Load(); s != 0 || p != 4 {
		t.Fatalf("stopped again: %d entry reads and %d page reads, want 0 and 4", s, p)
	}
	// A stop after a resume the translator was told of, with a change in
	// between: the next stop sees it.
	b.mapPage(dtb, va(3), moved)
	tr.Resumed()
	tr.Stopped()
	if loc, _ := tr.Translate(dtb, va(3)); loc.Addr != moved {
		t.Fatalf("after Resumed, Stopped: %+v", loc)
	}

	// A Translator without a TLB caches no tables either: its callers
	// never say when the guest runs.
	nocache := b.translator(mask46, func(c *Config) { c.TLBEntries = -1 })
	if nocache.tables != nil {
		t.Fatal("a Translator without a TLB has a page-table cache")
	}
}

// TestTableCacheAgrees: every table-level state, paged-out tables
// included, translates the same with a warm page-table cache as without
// one, for the page and for its neighbour in the same page table; Vtop's
// steps are the same whatever the cache holds.
func TestTableCacheAgrees(t *testing.T) {
	cases := []struct {
		name string
		out  func(g *guest, level Level)
	}{
		{"valid", func(*guest, Level) {}},
		{"transition", func(g *guest, level Level) {
			pageOut(g, level, func(pfn uint64) uint64 { return g.b.transition(pfn, 4) })
		}},
		{"pagefile", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(1, 0x20+uint64(level), 4) })
			moveToPagefile(g, 1, 0x20+uint64(level), pa, false)
		}},
		{"pagefile, not supplied", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(1, 0x20, 4) })
			moveToPagefile(g, 1, 0x20, pa, false)
			g.b.pagefiles[1] = Pagefile{}
		}},
		{"virtual store", func(g *guest, level Level) {
			pa := pageOut(g, level, func(uint64) uint64 { return g.b.pagefile(3, 0x20, 4) })
			moveToPagefile(g, 3, 0x20, pa, true)
		}},
		{"demand-zero table", func(g *guest, level Level) {
			g.b.setInvalid(g.dtb, g.va, level, g.b.demandZero(4))
		}},
	}
	for _, sw := range swizzles {
		for _, level := range tableLevels {
			for _, c := range cases {
				t.Run(fmt.Sprintf("%s/%s/%s", sw.name, level, c.name), func(t *testing.T) {
					g := newGuest(t, 36, sw.mask)
					g.b.vads.add(g.dtb, VAD{Start: userVA, End: userVA + 1<<30, Private: true, MemCommit: true, Protection: 4})
					g.b.mapPage(g.dtb, g.va, g.dataPage(0))
					g.b.mapPage(g.dtb, g.va+pageSize, g.dataPage(1))
					c.out(g, level)
					// Also over RAM that serves an entry but not its whole page:
					// the cache must then read the entry as a plain walk does.
					for _, phys := range []Physical{g.b.mem, wholePageFails{g.b.mem}} {
						cached := g.b.translator(sw.mask, func(c *Config) { c.Physical = phys; c.TLBEntries = 1 })
						plain := g.b.translator(sw.mask, func(c *Config) { c.Physical = phys; c.TLBEntries = -1 })
						before := cached.Vtop(g.dtb, g.va)
						for pass := range 2 {
							for _, va := range []uint64{g.va, g.va + pageSize, g.va + 0x123} {
								wl, werr := plain.Translate(g.dtb, va)
								gl, gerr := cached.Translate(g.dtb, va)
								if !reflect.DeepEqual(gl, wl) || fmt.Sprint(gerr) != fmt.Sprint(werr) {
									t.Fatalf("pass %d va 0x%x: cached %+v %v, uncached %+v %v", pass, va, gl, gerr, wl, werr)
								}
								wb, gb := make([]byte, pageSize), make([]byte, pageSize)
								wr, gr := plain.ReadVirtual(g.dtb, va, wb), cached.ReadVirtual(g.dtb, va, gb)
								if !bytes.Equal(wb, gb) || fmt.Sprint(wr.Err()) != fmt.Sprint(gr.Err()) || wr.N != gr.N {
									t.Fatalf("pass %d va 0x%x: ReadVirtual cached %d %v, uncached %d %v", pass, va, gr.N, gr.Err(), wr.N, wr.Err())
								}
							}
						}
						if after := cached.Vtop(g.dtb, g.va); !reflect.DeepEqual(before.Steps, after.Steps) || before.String() != after.String() {
							t.Fatalf("Vtop differs with a warm cache:\n%s\nthen\n%s", before, after)
						}
					}
				})
			}
		}
	}
}

// wholePageFails is RAM that fails every page-aligned read of a whole page
// (a table page into the cache, and data pages alike) and serves the rest.
type wholePageFails struct{ r Physical }

func (m wholePageFails) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == pageSize && off&pageMask == 0 {
		return 0, errors.New("not a whole page here")
	}
	return m.r.ReadAt(p, off)
}

// TestTableCacheConcurrent: sweeps from several goroutines while the
// generation changes under them (run with -race).
func TestTableCacheConcurrent(t *testing.T) {
	const n = 600 // two page tables
	_, dtb, _, tr := sweepGuest(t, n, func(c *Config) { c.TableCachePages = 2 })
	stop := make(chan struct{})
	var flips sync.WaitGroup
	flips.Add(1)
	go func() {
		defer flips.Done()
		for {
			select {
			case <-stop:
				return
			default:
				tr.Resumed()
				tr.Stopped()
			}
		}
	}()
	var readers sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 64*pageSize)
			for r := range 20 {
				first := uint64((g*97 + r*61) % (n - 64))
				res := tr.ReadVirtual(dtb, userVA+first*pageSize, buf)
				if res.Err() != nil {
					errs <- res.Err()
					return
				}
				for i := range uint64(64) {
					if !bytes.Equal(buf[i*pageSize:(i+1)*pageSize], pattern(first+i)) {
						errs <- fmt.Errorf("page %d differs", first+i)
						return
					}
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	flips.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestReadVirtualCoalesces: pages that follow each other in RAM are read
// with one physical read; a run whose read fails is read page by page, so
// every page reports what it would have on its own.
func TestReadVirtualCoalesces(t *testing.T) {
	const n = 16
	b, dtb, mem, tr := sweepGuest(t, n)
	buf := make([]byte, n*pageSize-0x100)
	// Start mid-page: the first piece is short.
	if res := tr.ReadVirtual(dtb, userVA+0x80, buf); res.Err() != nil || res.N != len(buf) {
		t.Fatalf("ReadVirtual: %d, %v", res.N, res.Err())
	}
	// The builder allocated page 0's frame before the tables that map it,
	// so pages 1.. follow each other but not page 0.
	if p := mem.pages.Load(); p != 4+2 {
		t.Fatalf("%d page-sized reads, want the 4 tables and two runs", p)
	}
	// Break the run: page 5 moves elsewhere, and page 9's frame stops
	// being RAM.
	moved := b.alloc()
	b.mem.write(moved, pattern(5))
	b.mapPage(dtb, userVA+5*pageSize, moved)
	delete(b.mem.pages, (b.l.PageFrameNumber.Get(b.mem.read64(b.entryPA(dtb, userVA+9*pageSize, LevelPTE)))))
	for _, tr := range []*Translator{tr, b.translator(mask46, func(c *Config) { c.TLBEntries = -1 })} {
		tr.Resumed()
		tr.Stopped()
		clear(buf)
		res := tr.ReadVirtual(dtb, userVA+0x80, buf)
		if res.N != len(buf)-pageSize {
			t.Errorf("served %d bytes, want all but page 9's", res.N)
		}
		for i, pr := range res.Pages() {
			one := make([]byte, pr.Len)
			alone := tr.ReadVirtual(dtb, pr.VA, one)
			if fmt.Sprint(alone.Err()) != fmt.Sprint(pr.Err) || !bytes.Equal(one, buf[pr.Off:pr.Off+pr.Len]) {
				t.Errorf("piece %d: %v; read alone: %v", i, pr.Err, alone.Err())
			}
			if (i == 9) != (pr.Err != nil) {
				t.Errorf("piece %d: %v", i, pr.Err)
			}
		}
	}
}

// TestTableCacheLevelsApart: a sweep over several page tables reads each
// table once even in a tiny cache: page tables replace each other in
// their own slots and never evict the page directory above them.
func TestTableCacheLevelsApart(t *testing.T) {
	const n = 3 * 512
	_, dtb, mem, tr := sweepGuest(t, n, func(c *Config) { c.TableCachePages = 4 })
	buf := make([]byte, n*pageSize)
	if res := tr.ReadVirtual(dtb, userVA, buf); res.Err() != nil {
		t.Fatal(res.Err())
	}
	// PML4, PDPT, PD, 3 page tables; the data in 4 runs (the builder put
	// each page table, and page 0, between data frames).
	if s, p := mem.small.Load(), mem.pages.Load(); s != 0 || p != 6+4 {
		t.Fatalf("%d entry reads and %d page reads, want 0 and %d", s, p, 6+4)
	}
}
