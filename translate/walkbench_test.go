package translate

import (
	"encoding/binary"
	"io"
	"testing"
	"time"
)

// Benchmarks of a single translation against its floor, and of sweeps
// larger than the TLB with and without the caches. Numbers and commands
// are in docs/benchmarks.md; nothing here asserts a time.

// fourLoads is the floor of a 4-level walk: the four dependent 8-byte
// loads, straight from the slice, with no checks and no decoding.
func fourLoads(mem []byte, dtb, va uint64) uint64 {
	table := dtb &^ pageMask
	for _, shift := range [...]uint{39, 30, 21, 12} {
		e := binary.LittleEndian.Uint64(mem[table+(va>>shift&(entriesPerTable-1))*entrySize:])
		table = e & 0x000ffffffffff000
	}
	return table | va&pageMask
}

// readerAtOnly hides flatMem's EntryReader: the walk through a plain
// io.ReaderAt, as any Physical without the fast path is read.
type readerAtOnly struct{ r io.ReaderAt }

func (m readerAtOnly) ReadAt(p []byte, off int64) (int, error) { return m.r.ReadAt(p, off) }

var sinkPA uint64

// BenchmarkWalkFloor: four dependent loads per translation.
func BenchmarkWalkFloor(b *testing.B) {
	g := newBenchGuest(b)
	i := uint64(0)
	for b.Loop() {
		sinkPA += fourLoads(g.mem, g.dtb, userVA+(i%benchPages)*pageSize+0x10)
		i++
	}
}

// BenchmarkTranslateUncachedReaderAt: BenchmarkTranslateUncached through a
// Physical without EntryReader.
func BenchmarkTranslateUncachedReaderAt(b *testing.B) {
	g := newBenchGuest(b)
	tr := g.translator(b, -1, func(c *Config) { c.Physical = readerAtOnly{g.mem} })
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		if _, err := tr.Translate(g.dtb, userVA+(i%benchPages)*pageSize+0x10); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTranslateVsFloor interleaves, in rounds of 256 pages, the
// floor, uncached walks and TLB hits over the same pages, and reports each
// per translation and the walk and the hit as multiples of the floor, so
// load from other processes weighs on all three alike.
func BenchmarkTranslateVsFloor(b *testing.B) {
	g := newBenchGuest(b)
	walk := g.translator(b, -1)
	hit := g.translator(b, 4*benchPages)
	for i := uint64(0); i < benchPages; i++ {
		hit.Translate(g.dtb, userVA+i*pageSize)
	}
	const chunk = 256
	var floor, walked, hits time.Duration
	round := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		base := userVA + (round*chunk%benchPages)*pageSize + 0x10
		round++
		t0 := time.Now()
		for i := range uint64(chunk) {
			sinkPA += fourLoads(g.mem, g.dtb, base+i*pageSize)
		}
		t1 := time.Now()
		for i := range uint64(chunk) {
			loc, err := walk.Translate(g.dtb, base+i*pageSize)
			if err != nil {
				b.Fatal(err)
			}
			sinkPA += loc.Addr
		}
		t2 := time.Now()
		for i := range uint64(chunk) {
			loc, err := hit.Translate(g.dtb, base+i*pageSize)
			if err != nil {
				b.Fatal(err)
			}
			sinkPA += loc.Addr
		}
		t3 := time.Now()
		floor += t1.Sub(t0)
		walked += t2.Sub(t1)
		hits += t3.Sub(t2)
	}
	n := float64(b.N * chunk)
	b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns")
	b.ReportMetric(float64(walked.Nanoseconds())/n, "walk-ns")
	b.ReportMetric(float64(hits.Nanoseconds())/n, "tlb-hit-ns")
	b.ReportMetric(walked.Seconds()/floor.Seconds(), "walk/floor")
	b.ReportMetric(hits.Seconds()/floor.Seconds(), "hit/floor")
}

// sweepPages is 16× the default TLB: a sweep of it misses the TLB on
// every page.
const sweepPages = 16 * DefaultTLBEntries

// BenchmarkTranslateSweep translates every page of a 64 MiB region once
// per op, with the default caches (a new generation per sweep: cold) and
// without any, interleaved in the same op; it reports each per page and
// the cached sweep's time as a percentage of the uncached one (100% or
// less: the caches cost nothing on a sweep they cannot hold).
func BenchmarkTranslateSweep(b *testing.B) {
	g := newBenchGuestOf(b, sweepPages)
	cached := g.translator(b, 0)
	none := g.translator(b, -1)
	var withCaches, without time.Duration
	b.ReportAllocs()
	for b.Loop() {
		cached.Resumed()
		cached.Stopped()
		t0 := time.Now()
		for i := range uint64(sweepPages) {
			if _, err := cached.Translate(g.dtb, userVA+i*pageSize); err != nil {
				b.Fatal(err)
			}
		}
		t1 := time.Now()
		for i := range uint64(sweepPages) {
			if _, err := none.Translate(g.dtb, userVA+i*pageSize); err != nil {
				b.Fatal(err)
			}
		}
		withCaches += t1.Sub(t0)
		without += time.Since(t1)
	}
	n := float64(b.N * sweepPages)
	b.ReportMetric(float64(withCaches.Nanoseconds())/n, "cached-ns/page")
	b.ReportMetric(float64(without.Nanoseconds())/n, "uncached-ns/page")
	b.ReportMetric(100*withCaches.Seconds()/without.Seconds(), "%-of-uncached")
}
