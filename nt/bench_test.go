package nt

import (
	"testing"
)

// The benchmarks run on the fake guest (memory is a map of pages), so they
// measure nt's own cost per question: symbol lookups, decoding and the
// number of reads, which is what a breakpoint handler pays on top of the
// data plane. Run: go test -run XXX -bench . ./nt/

// BenchmarkCurrent: who runs at a stop (KPCR, thread, owner), as a
// monitor asks at every hit.
func BenchmarkCurrent(b *testing.B) {
	g := newGuest(b, false)
	g.initList(g.global("PsActiveProcessHead"))
	w := g.process(0x58, 0x48, 0x9000, "writer.exe")
	pcr := g.kpcr(g.thread(w, w, 0x5c))
	k := g.kernel()
	regs := fakeRegisters{"cs": 0x10, "gs_base": pcr, "cr3": 0x9000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Current(regs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.mem.reads.Load())/float64(b.N), "reads/op")
}

// BenchmarkProcesses lists 100 processes.
func BenchmarkProcesses(b *testing.B) {
	g := newGuest(b, false)
	g.initList(g.global("PsActiveProcessHead"))
	for i := range 100 {
		g.process(uint64(4+4*i), 4, 0x1000, "p.exe")
	}
	k := g.kernel()
	for b.Loop() {
		if _, err := k.Processes(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindVAD looks an address up in a tree of 1023 VADs, as
// translation does for a zero PTE.
func BenchmarkFindVAD(b *testing.B) {
	g := newGuest(b, false)
	g.initList(g.global("PsActiveProcessHead"))
	ep := g.process(0x44, 4, 0x5000, "swapper.exe")
	var vads []testVAD
	for i := range uint64(1023) {
		vads = append(vads, testVAD{start: 0x10000000 + i*0x10000, end: 0x10001000 + i*0x10000, private: true, commit: true, protection: 4})
	}
	buildVADs(g, ep, vads)
	k := g.kernel()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := k.FindVAD(0x5000, 0x10000000+700*0x10000); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkLookupHandle resolves a File handle in a level-1 table, as the
// NtWriteFile monitor does per call.
func BenchmarkLookupHandle(b *testing.B) {
	g := newGuest(b, false)
	g.initList(g.global("PsActiveProcessHead"))
	types := g.objectTypes("Type", "Process", "Event", "File", "Device")
	ep := g.process(0x58, 0x48, 0x9000, "writer.exe")
	ht := g.alloc("_HANDLE_TABLE")
	g.set("_EPROCESS", ep, "ObjectTable", ht)
	pages, p1 := g.allocBytes(0x1000), g.allocBytes(0x1000)
	g.mem.write(pages+8, le(p1))
	g.set("_HANDLE_TABLE", ht, "TableCode", pages|1)
	g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 2*256*4)
	g.entry(p1+46*16, g.fileObject(types, `\frost\log.txt`), 0x120116)
	k := g.kernel()
	p, _ := k.ProcessByPID(0x58)
	b.ReportAllocs()
	for b.Loop() {
		if h, err := k.LookupHandle(p, (256+46)*4); err != nil || h.Name != `\frost\log.txt` {
			b.Fatal(h, err)
		}
	}
}
