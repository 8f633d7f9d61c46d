package physmem_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/physmem"
)

// benchRAMMB is the guest RAM the read benchmarks run over: large enough
// that random 4 KiB reads miss the CPU caches, as reads of a real guest do.
const benchRAMMB = 512

// BenchmarkPhysRead measures each backend against a raw baseline over the
// same file, in the same run, on a stopped mini-NT with 512 MiB of RAM:
//
//	4KiB-random/raw-mmap-copy     copy from a plain read-only mapping of the RAM file
//	4KiB-random/raw-pread-file    pread of the RAM file
//	4KiB-random/shared-file       physmem's mapped RAM file (Map lookup + copy)
//	4KiB-random/raw-pread-procmem pread of /proc/<pid>/mem at QEMU's mapping
//	4KiB-random/procmem           physmem's /proc/<pid>/mem backend
//	4KiB-random/reference         physmem's reference adapter over fileRef
//	                              (pread of the file): the adapter's cost only;
//	                              the gdbstub's own speed is vmi/gdbstub's benchmark
//
// and the same for 1MiB-seq (1 MiB reads walking RAM from 1 MiB up).
func BenchmarkPhysRead(b *testing.B) {
	m, c := bootReady(b, minint.Config{MemoryMB: benchRAMMB})
	ctx := deadline(b)
	shared, err := physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: m.PID()})
	if err != nil {
		b.Fatal(err)
	}
	defer shared.Close()
	gm := shared.Map()
	ref := newFileRef(b, m.RAMPath(), gm)
	proc, err := physmem.OpenProcess(ctx, m.PID(), gm, ref)
	if err != nil {
		b.Fatal(err)
	}
	defer proc.Close()
	byRef := physmem.NewReferenceMemory(ref, gm)

	file, err := os.Open(m.RAMPath())
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	raw, err := syscall.Mmap(int(file.Fd()), 0, int(gm.BlockSize()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(raw)
	procMem, err := os.Open(fmt.Sprintf("/proc/%d/mem", m.PID()))
	if err != nil {
		b.Fatal(err)
	}
	defer procMem.Close()
	base := mappingOf(b, m.PID(), m.RAMPath())

	// Fault every page into both mappings once, so no variant pays
	// first-touch costs the others do not.
	var sink byte
	for i := 0; i < len(raw); i += 4096 {
		sink ^= raw[i]
	}
	_ = sink
	warm := make([]byte, 1<<20)
	for _, r := range gm.Ranges() {
		for off := uint64(0); off < r.Size; off += uint64(len(warm)) {
			if err := shared.ReadPhysical(ctx, r.GPA+off, warm[:min(uint64(len(warm)), r.Size-off)]); err != nil {
				b.Fatal(err)
			}
		}
	}

	random := randomPages(gm, 1<<14)
	var seq []uint64
	for gpa := uint64(1 << 20); gpa+1<<20 <= gm.End(); gpa += 1 << 20 {
		seq = append(seq, gpa)
	}

	for _, w := range []struct {
		name string
		size int
		gpas []uint64
	}{{"4KiB-random", 4096, random}, {"1MiB-seq", 1 << 20, seq}} {
		// Block offsets, computed up front so the raw baselines do no
		// translation at all.
		offs := make([]uint64, len(w.gpas))
		for i, gpa := range w.gpas {
			off, n, err := gm.Translate(gpa)
			if err != nil || n < uint64(w.size) {
				b.Fatalf("GPA %#x: %v", gpa, err)
			}
			offs[i] = off
		}
		p := make([]byte, w.size)
		run := func(name string, read func(i int) error) {
			b.Run(w.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(w.size))
				i := 0
				for b.Loop() {
					if err := read(i); err != nil {
						b.Fatal(err)
					}
					i++
					if i == len(offs) {
						i = 0
					}
				}
			})
		}
		run("raw-mmap-copy", func(i int) error { copy(p, raw[offs[i]:]); return nil })
		run("raw-pread-file", func(i int) error { _, err := file.ReadAt(p, int64(offs[i])); return err })
		run("shared-file", func(i int) error { return shared.ReadPhysical(ctx, w.gpas[i], p) })
		run("raw-pread-procmem", func(i int) error { _, err := procMem.ReadAt(p, int64(base+offs[i])); return err })
		run("procmem", func(i int) error { return proc.ReadPhysical(ctx, w.gpas[i], p) })
		run("reference", func(i int) error { return byRef.ReadPhysical(ctx, w.gpas[i], p) })
	}
}

// randomPages picks n page addresses uniformly over guest RAM pages, with
// a fixed seed so runs compare.
func randomPages(gm *physmem.Map, n int) []uint64 {
	var pages []uint64 // first page of each range, cumulated
	var total uint64
	ranges := gm.Ranges()
	for _, r := range ranges {
		pages = append(pages, total)
		total += r.Size / 4096
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]uint64, n)
	for i := range out {
		k := rng.Uint64N(total)
		j := len(pages) - 1
		for pages[j] > k {
			j--
		}
		out[i] = ranges[j].GPA + (k-pages[j])*4096
	}
	return out
}

// mappingOf finds where QEMU maps path, for the raw /proc/<pid>/mem
// baseline (physmem finds it by verification; the baseline just looks).
func mappingOf(b *testing.B, pid int, path string) uint64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasSuffix(sc.Text(), " "+path) {
			lo, _, _ := strings.Cut(sc.Text(), "-")
			base, err := strconv.ParseUint(lo, 16, 64)
			if err != nil {
				b.Fatal(err)
			}
			return base
		}
	}
	b.Fatalf("QEMU does not map %s", path)
	return 0
}
