package translate

import (
	"encoding/binary"
	"testing"
	"time"
)

// Benchmarks run on an in-memory image: flat guest-physical memory, a
// region of benchPages pages mapped with 4K PTEs (a full 4-level walk
// each). Numbers and commands are in docs/benchmarks.md; nothing here
// asserts a time.

const benchPages = 1024 // 4 MiB: every translation fits the default TLB

// flatMem is guest RAM as one slice, as physmem's mapping of the RAM file
// presents it.
type flatMem []byte

func (m flatMem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errPastRAM
	}
	return copy(p, m[off:]), nil
}

// ReadEntry is flatMem's EntryReader fast path: one load, no buffer.
func (m flatMem) ReadEntry(pa uint64) (uint64, error) {
	if pa > uint64(len(m)) || uint64(len(m))-pa < entrySize {
		return 0, errPastRAM
	}
	return binary.LittleEndian.Uint64(m[pa:]), nil
}

var errPastRAM = &AddressError{Reason: "past RAM"}

type benchGuest struct {
	mem flatMem
	dtb uint64
	pas []uint64 // physical address of page i
	l   *Layout
}

func newBenchGuest(b *testing.B) *benchGuest { return newBenchGuestOf(b, benchPages) }

func newBenchGuestOf(b *testing.B, pages uint64) *benchGuest {
	bl := newBuilder(b, testLayout(36), mask46)
	dtb := bl.newDTB()
	g := &benchGuest{dtb: dtb, l: bl.l}
	for i := uint64(0); i < pages; i++ {
		g.pas = append(g.pas, bl.mapNew(dtb, userVA+i*pageSize, pattern(i)))
	}
	g.mem = make(flatMem, bl.next<<pageShift)
	for pfn, pg := range bl.mem.pages {
		copy(g.mem[pfn<<pageShift:], pg[:])
	}
	return g
}

func (g *benchGuest) translator(b *testing.B, tlbEntries int, opts ...func(*Config)) *Translator {
	cfg := Config{Layout: g.l, SwizzleMask: mask46, Physical: g.mem, TLBEntries: tlbEntries}
	for _, o := range opts {
		o(&cfg)
	}
	t, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func perSecond(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkTranslateCached: translations served by the TLB.
func BenchmarkTranslateCached(b *testing.B) {
	g := newBenchGuest(b)
	tr := g.translator(b, 4*benchPages)
	for i := uint64(0); i < benchPages; i++ {
		tr.Translate(g.dtb, userVA+i*pageSize)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := uint64(0)
	for b.Loop() {
		if _, err := tr.Translate(g.dtb, userVA+(i%benchPages)*pageSize+0x10); err != nil {
			b.Fatal(err)
		}
		i++
	}
	perSecond(b, "translations/s")
}

// BenchmarkTranslateUncached: a full 4-level walk per translation.
func BenchmarkTranslateUncached(b *testing.B) {
	g := newBenchGuest(b)
	tr := g.translator(b, -1)
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if _, err := tr.Translate(g.dtb, userVA+(i%benchPages)*pageSize+0x10); err != nil {
			b.Fatal(err)
		}
		i++
	}
	perSecond(b, "walks/s")
}

// BenchmarkReadVirtual4K reads the region page by page through ReadVirtual,
// and copies the same bytes straight from RAM, in the same run.
func BenchmarkReadVirtual4K(b *testing.B) {
	g := newBenchGuest(b)
	buf := make([]byte, pageSize)
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(pageSize)
		i := 0
		for b.Loop() {
			pa := g.pas[i%benchPages]
			copy(buf, g.mem[pa:pa+pageSize])
			i++
		}
	})
	for _, c := range []struct {
		name string
		tlb  int
	}{{"cached", 4 * benchPages}, {"uncached", -1}} {
		b.Run("ReadVirtual-"+c.name, func(b *testing.B) {
			tr := g.translator(b, c.tlb)
			b.SetBytes(pageSize)
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				res := tr.ReadVirtual(g.dtb, userVA+(i%benchPages)*pageSize, buf)
				if res.N != pageSize {
					b.Fatal(res.Err())
				}
				i++
			}
		})
	}
}

// BenchmarkReadVirtualVsCopy interleaves the two in chunks of 256 pages and
// reports ReadVirtual's throughput as a percentage of the copy's, so load
// from other processes on the machine weighs on both sides alike.
func BenchmarkReadVirtualVsCopy(b *testing.B) {
	g := newBenchGuest(b)
	tr := g.translator(b, 4*benchPages)
	buf := make([]byte, pageSize)
	const chunk = 256
	var copyTime, readTime time.Duration
	b.SetBytes(2 * chunk * pageSize)
	for b.Loop() {
		start := time.Now()
		for i := range chunk {
			pa := g.pas[i*4%benchPages]
			copy(buf, g.mem[pa:pa+pageSize])
		}
		mid := time.Now()
		for i := range chunk {
			if res := tr.ReadVirtual(g.dtb, userVA+uint64(i*4%benchPages)*pageSize, buf); res.N != pageSize {
				b.Fatal(res.Err())
			}
		}
		copyTime += mid.Sub(start)
		readTime += time.Since(mid)
	}
	b.ReportMetric(100*copyTime.Seconds()/readTime.Seconds(), "%-of-copy")
}

// BenchmarkReadVirtualSweep reads a 64 MiB region (16384 pages, 4K PTEs)
// in 1 MiB ReadVirtual calls, as the API's StreamVirtual does, with the
// default caches: far more pages than the TLB holds, so every page misses
// it and only the page-table cache spares the walk its four entry reads.
// Each sweep starts a new generation (a cold cache). "copy" copies the
// same pages from RAM; "no-table-cache" is the walk without the
// page-table cache, as before it existed; "no-caches" has neither cache
// (TLBEntries -1), which the caches must not be slower than. Physical pages are contiguous
// here except where the builder put a new page table, so most of a chunk
// is one physical read.
func BenchmarkReadVirtualSweep(b *testing.B) {
	const pages, chunk = 16384, 1 << 20
	g := newBenchGuestOf(b, pages)
	buf := make([]byte, chunk)
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(pages * pageSize)
		for b.Loop() {
			for i, pa := range g.pas {
				copy(buf[i*pageSize%chunk:], g.mem[pa:pa+pageSize])
			}
		}
	})
	for _, c := range []struct {
		name        string
		tlb, tables int
	}{{"ReadVirtual", 0, 0}, {"ReadVirtual-no-table-cache", 0, -1}, {"ReadVirtual-no-caches", -1, 0}} {
		b.Run(c.name, func(b *testing.B) {
			mem := &countingMem{r: g.mem}
			tr := g.translator(b, c.tlb, func(cfg *Config) { cfg.TableCachePages = c.tables; cfg.Physical = mem })
			b.SetBytes(pages * pageSize)
			b.ReportAllocs()
			for b.Loop() {
				tr.Resumed()
				tr.Stopped()
				for off := uint64(0); off < pages*pageSize; off += chunk {
					if res := tr.ReadVirtual(g.dtb, userVA+off, buf); res.N != chunk {
						b.Fatal(res.Err())
					}
				}
			}
			b.ReportMetric(float64(b.N)*pages/b.Elapsed().Seconds(), "pages/s")
			// Each physical read through a real target has a fixed cost
			// (vmi, physmem's lookup and lock), which flat memory does
			// not show: count them.
			b.ReportMetric(float64(mem.small.Load()+mem.pages.Load())/float64(b.N)/pages, "phys-reads/page")
		})
	}
}
