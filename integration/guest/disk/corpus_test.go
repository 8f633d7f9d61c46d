package disk

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzNewVolume from seedImages")

// compactImage is a valid image with a one-sector table, so the committed
// seeds stay a few KiB: 4 entries fill the table, no terminator needed.
func compactImage() []byte {
	const data = 2 * SectorSize // superblock + table
	img := make(memImage, data+4*SectorSize)
	sb := superblock{version: Version, tableLBA: 1, tableSectors: 1, imageSize: uint64(len(img))}
	copy(img, sb.encode())
	entries := []Entry{
		{Name: `\pagefile.sys`, Offset: data, Capacity: SectorSize},
		{Name: `\frost\log.txt`, Flags: FlagExists, Offset: data + SectorSize, Capacity: SectorSize, Size: 5},
		{Name: `\Windows\System32\smss.exe`, Flags: FlagExists, Offset: data + 2*SectorSize, Capacity: SectorSize, Size: 7},
		{Name: `\empty`, Offset: data + 3*SectorSize},
	}
	for i, e := range entries {
		encodeEntry(img[SectorSize+i*EntrySize:], e)
	}
	for i := range SectorSize {
		img[data+i] = NeverWritten
	}
	copy(img[data+SectorSize:], "hello")
	copy(img[data+2*SectorSize:], "MZ smss")
	return img
}

// seedImages are the committed corpus: the valid compact image and near
// misses that each trip one check.
func seedImages() map[string][]byte {
	mutate := func(f func([]byte)) []byte { b := compactImage(); f(b); return b }
	ent := func(i, field int) int { return SectorSize + i*EntrySize + field }
	return map[string][]byte{
		"valid":     compactImage(),
		"bad-magic": mutate(func(b []byte) { b[7] = '2' }),
		"truncated": compactImage()[:3*SectorSize],
		"overlap":   mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[ent(2, entOffset):], 2*SectorSize+SectorSize) }),
		"too-large": mutate(func(b []byte) { binary.LittleEndian.PutUint64(b[ent(0, entCapacity):], 1<<62) }),
		"short-table": mutate(func(b []byte) {
			clear(b[ent(2, 0) : ent(2, 0)+EntrySize]) // ends the table early
		}),
	}
}

// TestSeedCorpus keeps the committed corpus in step with seedImages: the
// files are data, so nothing else would notice them drift from the format.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzNewVolume")
	for name, img := range seedImages() {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", img)
		path := filepath.Join(dir, name)
		if *updateCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (err %v); run go test -run TestSeedCorpus -update-corpus", path, err)
		}
	}
}

func TestCompactImageParses(t *testing.T) {
	img := compactImage()
	v, err := NewVolume(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.Entries()); n != 4 {
		t.Errorf("%d entries, want 4", n)
	}
	if b, err := v.ReadFile(`\frost\log.txt`); err != nil || string(b) != "hello" {
		t.Errorf("ReadFile(log) = %q, %v", b, err)
	}
}
