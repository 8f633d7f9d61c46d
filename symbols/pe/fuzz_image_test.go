package pe

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// holeyMemory is fuzzed bytes at a kernel address, with the pages whose
// bit is set in holes (of the first 64) unreadable.
type holeyMemory struct {
	flatMemory
	holes uint64
}

func (m holeyMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr-m.base > uint64(len(m.b)) {
		return 0, fmt.Errorf("%#x not mapped", addr)
	}
	for i := (addr - m.base) / PageSize; i <= (addr-m.base+uint64(len(p))-1)/PageSize && i < 64 && len(p) > 0; i++ {
		if m.holes>>i&1 != 0 {
			return 0, fmt.Errorf("page %d is a hole", i)
		}
	}
	return m.flatMemory.ReadAt(p, addr)
}

const fuzzBase = 0xfffff80000000000

// fuzzSeeds are synthetic images, with and without holes, for both fuzz
// targets. Each is cut after its last non-zero byte: what follows is
// unmapped, which the targets must survive too.
func fuzzSeeds() map[string]struct {
	image []byte
	holes uint64
} {
	trim := func(b []byte) []byte { return bytes.TrimRight(b, "\x00") }
	pe32 := synthImage()
	put16(pe32, synthOpt, 0x10b) // the same bytes read as PE32
	return map[string]struct {
		image []byte
		holes uint64
	}{
		"synth":            {trim(synthImage()), 0},
		"synth-full":       {synthImage(), 0},
		"synth-hole-data":  {synthImage(), 1 << 3},
		"synth-hole-text":  {synthImage(), 1 << 1},
		"synth-hole-rdata": {trim(synthImage()), 1 << 2},
		"synth-pe32":       {trim(pe32), 0},
		"synth-names-out": {trim(synthMemory(func(b []byte) {
			copy(b[0x3080:], "beta\x00")
			put32(b, synthNames+4*2, 0x3080)
		}).mem), 0},
	}
}

// committedSeeds are the fuzzSeeds written to testdata/fuzz: the small
// ones, so the repository holds tens of kilobytes, not hundreds; the
// rest are added by the targets themselves.
var committedSeeds = map[string]bool{"synth": true, "synth-hole-rdata": true}

// TestWriteFuzzSeeds writes committedSeeds to testdata/fuzz when
// FROST_WRITE_FUZZ_SEEDS is set; the corpus is committed.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FROST_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set FROST_WRITE_FUZZ_SEEDS=1 to rewrite the committed seed corpus")
	}
	for _, target := range []string{"FuzzImage", "FuzzRebuild"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range fuzzSeeds() {
			if !committedSeeds[name] {
				continue
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint64(%d)\n", s.image, s.holes)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzImage reads headers, exports and .pdata from fuzzed guest memory
// with holes: an answer that keeps its promises, or an error.
func FuzzImage(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.image, s.holes)
	}
	f.Fuzz(func(t *testing.T, data []byte, holes uint64) {
		m := holeyMemory{flatMemory{base: fuzzBase, b: data}, holes}
		h, err := MappedHeaders(m, m.base)
		if err != nil {
			if h != nil {
				t.Fatalf("headers with %v", err)
			}
			return
		}
		if len(h.Sections) > MaxSections || len(h.Directories) > MaxDirectories || h.SizeOfImage > MaxImageSize {
			t.Fatalf("accepted %+v", h)
		}
		for _, s := range h.Sections {
			if uint64(s.VirtualAddress)+uint64(s.MappedSize()) > uint64(h.SizeOfImage) {
				t.Fatalf("section %+v past SizeOfImage %#x", s, h.SizeOfImage)
			}
		}
		checkFuzzedExports(t, h, m)
		checkFuzzedPdata(t, h, m)
	})
}

func checkFuzzedExports(t *testing.T, h *Headers, m Memory) {
	x, err := h.Exports(m)
	if x == nil {
		return
	}
	if err == nil && x.Incomplete || err != nil && !x.Incomplete {
		t.Fatalf("exports incomplete %v with %v", x.Incomplete, err)
	}
	for _, e := range x.List {
		if e.RVA == 0 || e.RVA >= h.SizeOfImage || len(e.Name) > MaxExportName || len(e.Forwarder) > MaxExportName {
			t.Fatalf("accepted %+v", e)
		}
		if got, ok := x.ByName(e.Name); e.Name != "" && (!ok || got.Name != e.Name) {
			t.Fatalf("ByName(%q) = %+v", e.Name, got)
		}
		if e.Forwarder != "" {
			continue
		}
		if got, off, ok := x.Nearest(e.RVA); !ok || got.RVA != e.RVA || off != 0 || got.Forwarder != "" {
			t.Fatalf("Nearest(%#x) = %+v+%#x, %v", e.RVA, got, off, ok)
		}
	}
}

func checkFuzzedPdata(t *testing.T, h *Headers, m Memory) {
	table, err := h.RuntimeFunctions(m)
	if err != nil && !IsSkipped(err) {
		if table != nil {
			t.Fatalf("a table with %v", err)
		}
		return
	}
	for i, f := range table {
		if f.End <= f.Begin || f.End > h.SizeOfImage || i > 0 && f.Begin < table[i-1].End {
			t.Fatalf("entry %d %+v (SizeOfImage %#x)", i, f, h.SizeOfImage)
		}
		if got, ok := FunctionAt(table, f.End-1); !ok || got != f {
			t.Fatalf("FunctionAt(%#x) = %+v", f.End-1, got)
		}
	}
}

// FuzzRebuild rebuilds fuzzed guest memory with holes as a PE file: an
// error, or a file whose own headers read back, with every section's raw
// data inside it, and the holes listed.
func FuzzRebuild(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.image, s.holes)
	}
	f.Fuzz(func(t *testing.T, data []byte, holes uint64) {
		m := holeyMemory{flatMemory{base: fuzzBase, b: data}, holes}
		// 256 KiB keeps each run's allocation small; Rebuild's bound is
		// the same check with MaxImageSize.
		r, err := rebuild(m, m.base, 1<<18)
		if err != nil {
			if r != nil {
				t.Fatalf("a file with %v", err)
			}
			return
		}
		if !sort.SliceIsSorted(r.Unreadable, func(i, j int) bool { return r.Unreadable[i] < r.Unreadable[j] }) {
			t.Fatalf("unreadable %#x", r.Unreadable)
		}
		for i, p := range r.Unreadable {
			if p%PageSize != 0 || p+PageSize <= m.base || p >= m.base+uint64(r.Headers.SizeOfImage) || i > 0 && p == r.Unreadable[i-1] {
				t.Fatalf("unreadable %#x", r.Unreadable)
			}
		}
		h, err := MappedHeaders(flatMemory{b: r.File}, 0)
		if err != nil {
			t.Fatalf("the rebuilt headers: %v", err)
		}
		if len(h.Sections) != len(r.Headers.Sections) || h.ImageBase != m.base && h.PE32Plus {
			t.Fatalf("rebuilt %+v from %+v", h, r.Headers)
		}
		end := uint64(h.SizeOfHeaders)
		for _, s := range h.Sections {
			if s.SizeOfRawData == 0 {
				continue
			}
			if uint64(s.PointerToRawData) < end || uint64(s.PointerToRawData)+uint64(s.SizeOfRawData) > uint64(len(r.File)) ||
				s.PointerToRawData%h.FileAlignment != 0 || s.SizeOfRawData < s.VirtualSize {
				t.Fatalf("section %+v in a file of %#x bytes", s, len(r.File))
			}
			end = uint64(s.PointerToRawData) + uint64(s.SizeOfRawData)
		}
	})
}
