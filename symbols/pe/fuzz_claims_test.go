package pe

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/symbols/internal/testenv"
)

// lyingImage is a mapped image whose every size claims the most Mapped
// accepts: SizeOfImage of 1 GiB, a debug directory of 64 entries, each a
// CodeView record of MaxCodeView bytes whose RSDS is malformed, so the
// reader goes as far as it may before giving up. The entries share one
// record, which keeps the seed at 8 KiB.
func lyingImage() []byte {
	le := binary.LittleEndian
	const lfanew, dirRVA, cvRVA = 0x80, 0x400, 0x1000
	b := make([]byte, cvRVA+MaxCodeView)
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], lfanew)
	copy(b[lfanew:], "PE\x00\x00")
	le.PutUint16(b[lfanew+4:], 0x8664)
	le.PutUint16(b[lfanew+20:], 240) // SizeOfOptionalHeader
	opt := b[lfanew+24:]
	le.PutUint16(opt, 0x20b)
	le.PutUint32(opt[56:], MaxImageSize)
	le.PutUint32(opt[108:], 16) // NumberOfRvaAndSizes
	le.PutUint32(opt[112+debugDirIndex*8:], dirRVA)
	le.PutUint32(opt[112+debugDirIndex*8+4:], maxDebugEntries*debugEntrySize)
	for i := 0; i < maxDebugEntries; i++ {
		e := b[dirRVA+i*debugEntrySize:]
		le.PutUint32(e[entryType:], debugTypeCV)
		le.PutUint32(e[entrySizeOfData:], MaxCodeView)
		le.PutUint32(e[entryRVA:], cvRVA) // all one record: the input stays small
	}
	copy(b[cvRVA:], "RSDS") // and no NUL-terminated path: refused
	for j := cvRVA + 24; j < len(b); j++ {
		b[j] = 'A'
	}
	return b
}

// countingMemory counts what a reader asks of it.
type countingMemory struct {
	flatMemory
	reads, bytes int
}

func (m *countingMemory) ReadAt(p []byte, addr uint64) (int, error) {
	m.reads++
	m.bytes += len(p)
	return m.flatMemory.ReadAt(p, addr)
}

// FuzzMapped once failed with "fuzzing process hung or terminated
// unexpectedly" (issue 19). An image that claims the most of everything
// costs a bounded read and allocation, whatever it claims: headers, the
// debug directory and four CodeView records at most.
func TestMappedLyingImageIsBounded(t *testing.T) {
	m := &countingMemory{flatMemory: flatMemory{base: 0xfffff80000000000, b: lyingImage()}}
	before := testenv.HeapAllocated()
	_, err := Mapped(m, m.base)
	used := testenv.HeapAllocated() - before
	if err == nil {
		t.Fatal("a lying image was accepted")
	}
	const most = 64 + 24 + 0x1000 + maxDebugEntries*debugEntrySize + 4*MaxCodeView
	if m.bytes > most {
		t.Errorf("read %d bytes in %d reads, want at most %d", m.bytes, m.reads, most)
	}
	if used > 64<<10 {
		t.Errorf("allocated %d bytes", used)
	}
	if len(err.Error()) > 2048 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}

// The lying image is in FuzzMapped's seed corpus, so every run starts from
// it; this test fails if the file and the builder drift apart.
func TestMappedLyingImageSeed(t *testing.T) {
	path := filepath.Join("testdata", "fuzz", "FuzzMapped", "lying-image")
	want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", lyingImage())
	got, err := os.ReadFile(path)
	if os.Getenv("FROST_WRITE_SEEDS") != "" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil || string(got) != want {
		t.Fatalf("%s is not lyingImage() (%v); regenerate with FROST_WRITE_SEEDS=1", path, err)
	}
}
