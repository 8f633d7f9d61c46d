package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// memImage is an in-memory image that starts zeroed, as Build requires.
type memImage []byte

func (m memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, io.ErrShortWrite
	}
	return copy(m[off:], p), nil
}

// smallImage builds a 64 KiB image with one file of each kind.
func smallImage(t testing.TB) []byte {
	t.Helper()
	img := make(memImage, 64<<10)
	files := []File{
		{Name: `\pagefile.sys`, Capacity: 8 << 10, Fill: NeverWritten},
		{Name: `\frost\log.txt`, Capacity: 4 << 10},
		{Name: `\Windows\System32\smss.exe`, Exists: true, Data: []byte("MZ smss")},
	}
	if err := Build(img, int64(len(img)), files); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return img
}

func TestRoundTrip(t *testing.T) {
	img := smallImage(t)
	v, err := NewVolume(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatalf("NewVolume: %v", err)
	}
	want := []Entry{
		{Name: `\pagefile.sys`, Offset: 9 * SectorSize, Capacity: 8 << 10},
		{Name: `\frost\log.txt`, Offset: 9*SectorSize + 8<<10, Capacity: 4 << 10},
		{Name: `\Windows\System32\smss.exe`, Flags: FlagExists, Offset: 9*SectorSize + 12<<10, Capacity: SectorSize, Size: 7},
	}
	got := v.Entries()
	if len(got) != len(want) {
		t.Fatalf("Entries() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	data, err := v.ReadFile(`\windows\system32\SMSS.EXE`) // case-insensitive, as on Windows
	if err != nil || string(data) != "MZ smss" {
		t.Errorf("ReadFile(smss) = %q, %v; want %q", data, err, "MZ smss")
	}

	ext, err := v.ReadExtent(`\pagefile.sys`)
	if err != nil {
		t.Fatalf("ReadExtent: %v", err)
	}
	raw, _ := io.ReadAll(ext)
	if len(raw) != 8<<10 || !bytes.Equal(raw, bytes.Repeat([]byte{NeverWritten}, len(raw))) {
		t.Errorf("pagefile extent: %d bytes, not all %#x", len(raw), NeverWritten)
	}
}

func TestReadFileMissingOrReserved(t *testing.T) {
	img := smallImage(t)
	v, err := NewVolume(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`\nope.txt`, `\frost\log.txt`} {
		if _, err := v.ReadFile(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%s) error = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := v.Extent(`\nope.txt`); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Extent(missing) error = %v, want fs.ErrNotExist", err)
	}
	if e, err := v.Extent(`\frost\log.txt`); err != nil || e.Exists() {
		t.Errorf("Extent(log) = %+v, %v; want a reserved entry", e, err)
	}
}

// entryAt is the byte offset of table entry i in a Build-made image.
func entryAt(i int) int { return standardTableLBA*SectorSize + i*EntrySize }

func TestMalformed(t *testing.T) {
	put32 := func(off int, v uint32) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint32(b[off:], v); return b }
	}
	put64 := func(off int, v uint64) func([]byte) []byte {
		return func(b []byte) []byte { binary.LittleEndian.PutUint64(b[off:], v); return b }
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   string
	}{
		{"empty", func([]byte) []byte { return nil }, "shorter than one sector"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "bad magic"},
		{"version", put32(sbVersion, 2), "version 2"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-SectorSize] }, "truncated"},
		{"odd image size", put64(sbImageSize, 1000), "not a multiple"},
		{"table at lba 0", put32(sbTableLBA, 0), "overlap the superblock"},
		{"no table", put32(sbTableSectors, 0), "file table of 0 sectors"},
		{"huge table", put32(sbTableSectors, 1<<31), "file table of"},
		{"table past end", put32(sbTableLBA, 1<<20), "past the image end"},
		{"unaligned extent", put64(entryAt(0)+entOffset, 9*SectorSize+1), "not sector aligned"},
		{"extent over table", put64(entryAt(0)+entOffset, SectorSize), "overlaps the superblock or file table"},
		{"extent past end", put64(entryAt(0)+entCapacity, 1<<40), "past the image end"},
		{"extent wraps", put64(entryAt(0)+entCapacity, ^uint64(0)-SectorSize+1), "past the image end"},
		{"size over capacity", put64(entryAt(2)+entSize, SectorSize+1), "exceeds extent capacity"},
		{"overlap", put64(entryAt(1)+entOffset, 9*SectorSize+SectorSize), "overlaps"},
		{"duplicate", func(b []byte) []byte { copy(b[entryAt(1):], b[entryAt(0):entryAt(0)+NameSize]); return b }, "duplicate name"},
		{"no backslash", func(b []byte) []byte { b[entryAt(0)] = 'p'; return b }, "not volume-relative"},
		{"control char", func(b []byte) []byte { b[entryAt(0)+3] = 0x01; return b }, "non-printable"},
		{"junk after nul", func(b []byte) []byte { b[entryAt(0)+NameSize-1] = 'x'; return b }, "after its NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.mutate(smallImage(t))
			_, err := NewVolume(bytes.NewReader(img), int64(len(img)))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *FormatError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestFullTableNeedsNoTerminator(t *testing.T) {
	img := make(memImage, 64<<10)
	var files []File
	for i := range maxEntries {
		files = append(files, File{Name: `\f` + string(rune('A'+i%26)) + string(rune('a'+i/26)), Capacity: SectorSize})
	}
	if err := Build(img, int64(len(img)), files); err != nil {
		t.Fatal(err)
	}
	v, err := NewVolume(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.Entries()); n != maxEntries {
		t.Errorf("%d entries, want %d", n, maxEntries)
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		files []File
		want  string
	}{
		{"relative name", 64 << 10, []File{{Name: "log.txt"}}, "volume-relative"},
		{"long name", 64 << 10, []File{{Name: `\` + strings.Repeat("a", NameSize-1)}}, "at most 87"},
		{"reserved with data", 64 << 10, []File{{Name: `\a`, Data: []byte("x")}}, "reserved entry holds no data"},
		{"odd capacity", 64 << 10, []File{{Name: `\a`, Capacity: 100}}, "multiple of 512"},
		{"too big", 64 << 10, []File{{Name: `\a`, Capacity: 1 << 20}}, "past the image end"},
		{"overlap", 64 << 10, []File{{Name: `\a`, Offset: 8 << 10, Capacity: 8 << 10}, {Name: `\b`, Offset: 12 << 10, Capacity: SectorSize}}, "overlaps"},
		{"duplicate", 64 << 10, []File{{Name: `\a`, Capacity: SectorSize}, {Name: `\A`, Capacity: SectorSize}}, "duplicate"},
		{"tiny image", SectorSize, nil, "cannot hold"},
		{"too many", 1 << 20, make([]File, maxEntries+1), "the table holds 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := make(memImage, max(tt.size, 0))
			err := Build(img, tt.size, tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
