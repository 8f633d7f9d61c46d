package pe

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// FuzzRSDS: any bytes give a record or an error.
func FuzzRSDS(f *testing.F) {
	rec := append([]byte("RSDS"), make([]byte, 20)...)
	f.Add(append(append([]byte(nil), rec...), `c:\sym\ntkrnlmp.pdb`+"\x00"...))
	f.Add(append(append([]byte(nil), rec...), "\x00"...))
	f.Fuzz(func(t *testing.T, data []byte) {
		cv, err := ParseRSDS(data)
		if err == nil && (cv.ID.PDBName == "" || len(cv.Path) >= len(data)) {
			t.Fatalf("accepted %q as %+v", data, cv)
		}
	})
}

// flatMemory is fuzzed bytes mapped at a kernel address.
type flatMemory struct {
	base uint64
	b    []byte
}

func (m flatMemory) ReadAt(p []byte, addr uint64) (int, error) {
	if addr < m.base || addr-m.base > uint64(len(m.b)) || uint64(len(p)) > uint64(len(m.b))-(addr-m.base) {
		return 0, fmt.Errorf("%#x+%d not mapped", addr, len(p))
	}
	return copy(p, m.b[addr-m.base:]), nil
}

// FuzzMapped reads an image identity from fuzzed guest memory. Every size
// is the guest's, so whatever it claims the reader may allocate only its
// fixed bounds: headers (4 KiB), the debug directory (1792 bytes), four
// CodeView records (16 KiB) and their errors; 64 KiB in all.
func FuzzMapped(f *testing.F) {
	// hal.dll, if mini-NT is built: a real image, 12 KiB mapped.
	if g := mapImageFile(filepath.Join(testenv.RepoRoot(f), "integration", "guest", "out", "hal.dll")); g != nil {
		f.Add(g)
	}
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := flatMemory{base: 0xfffff80000000000, b: data}
		before := testenv.HeapAllocated()
		img, err := Mapped(m, m.base)
		if used := testenv.HeapAllocated() - before; used > 64<<10 {
			t.Fatalf("allocated %d bytes", used)
		}
		if err == nil && (img.SizeOfImage == 0 || img.ID.PDBName == "") {
			t.Fatalf("accepted %+v", img)
		}
	})
}

// mapImageFile lays out a small PE file as a loader would, for a seed.
func mapImageFile(path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) > 1<<20 {
		return nil
	}
	return mappedLayout(raw)
}
