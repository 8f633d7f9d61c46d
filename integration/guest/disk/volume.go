package disk

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Entry is one file-table entry.
type Entry struct {
	// Name is the volume-relative path, e.g. `\frost\log.txt`.
	Name string
	// Flags holds FlagExists and any bits a later guest may define.
	Flags uint32
	// Offset is the extent's byte offset from the start of the image.
	Offset uint64
	// Capacity is the extent's size in bytes.
	Capacity uint64
	// Size is the file's size in bytes; at most Capacity.
	Size uint64
}

// Exists reports whether the file has been created; otherwise the entry
// only reserves its extent.
func (e Entry) Exists() bool { return e.Flags&FlagExists != 0 }

// Volume is a parsed C: image. Its entries are read once, at open; file
// contents are read from the image on demand.
type Volume struct {
	r       io.ReaderAt
	size    int64
	entries []Entry
	closer  io.Closer
}

// Open parses the image file at path. Close the volume when done.
func Open(path string) (*Volume, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	v, err := NewVolume(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v.closer = f
	return v, nil
}

// NewVolume parses an image of size bytes read through r.
func NewVolume(r io.ReaderAt, size int64) (*Volume, error) {
	sb, err := readSuperblock(r, size)
	if err != nil {
		return nil, err
	}
	// The recorded size bounds every extent; it may be smaller than the
	// file (trailing bytes are ignored) but never larger (a truncated image).
	limit := int64(sb.imageSize)
	entries, err := readTable(r, sb, limit)
	if err != nil {
		return nil, err
	}
	return &Volume{r: r, size: limit, entries: entries}, nil
}

// Close releases the image file opened by Open.
func (v *Volume) Close() error {
	if v.closer == nil {
		return nil
	}
	return v.closer.Close()
}

// Size is the image size recorded in the superblock.
func (v *Volume) Size() int64 { return v.size }

// Entries returns the file table in on-disk order, reserved entries included.
func (v *Volume) Entries() []Entry { return slices.Clone(v.entries) }

// Extent returns the entry for name, whether the file exists or is only
// reserved. Names compare ASCII case-insensitively, as Windows paths do.
func (v *Volume) Extent(name string) (Entry, error) {
	for _, e := range v.entries {
		if strings.EqualFold(e.Name, name) {
			return e, nil
		}
	}
	return Entry{}, &fs.PathError{Op: "lookup", Path: name, Err: fs.ErrNotExist}
}

// ReadExtent returns a reader over name's whole extent (Capacity bytes),
// which for a reserved entry still shows what the image holds there, such as
// the 0xE5 fill of a paging file nobody created.
func (v *Volume) ReadExtent(name string) (*io.SectionReader, error) {
	e, err := v.Extent(name)
	if err != nil {
		return nil, err
	}
	return io.NewSectionReader(v.r, int64(e.Offset), int64(e.Capacity)), nil
}

// ReadFile returns the contents (Size bytes) of an existing file. A reserved
// entry is reported as not existing, like a file that was never created.
func (v *Volume) ReadFile(name string) ([]byte, error) {
	e, err := v.Extent(name)
	if err != nil {
		return nil, err
	}
	if !e.Exists() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("reserved, not created: %w", fs.ErrNotExist)}
	}
	// Size was checked against Capacity and the image at open, so this
	// allocation is bounded by the image size.
	b := make([]byte, e.Size)
	if _, err := v.r.ReadAt(b, int64(e.Offset)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

func readSuperblock(r io.ReaderAt, size int64) (superblock, error) {
	const what = "superblock"
	if size < SectorSize {
		return superblock{}, formatErr(0, what, "image is %d bytes, shorter than one sector", size)
	}
	b := make([]byte, sbEnd)
	if _, err := r.ReadAt(b, 0); err != nil {
		return superblock{}, fmt.Errorf("disk: reading superblock: %w", err)
	}
	if string(b[sbMagic:sbMagic+len(Magic)]) != Magic {
		return superblock{}, formatErr(sbMagic, what, "bad magic %q, want %q", b[sbMagic:sbMagic+len(Magic)], Magic)
	}
	sb := superblock{
		version:      binary.LittleEndian.Uint32(b[sbVersion:]),
		tableLBA:     binary.LittleEndian.Uint32(b[sbTableLBA:]),
		tableSectors: binary.LittleEndian.Uint32(b[sbTableSectors:]),
		imageSize:    binary.LittleEndian.Uint64(b[sbImageSize:]),
	}
	switch {
	case sb.version != Version:
		return sb, formatErr(sbVersion, what, "version %d, want %d", sb.version, Version)
	case sb.imageSize > uint64(size):
		return sb, formatErr(sbImageSize, what, "records %d bytes but the image has %d (truncated?)", sb.imageSize, size)
	case sb.imageSize%SectorSize != 0:
		return sb, formatErr(sbImageSize, what, "image size %d is not a multiple of %d", sb.imageSize, SectorSize)
	case sb.tableLBA == 0:
		return sb, formatErr(sbTableLBA, what, "file table at LBA 0 would overlap the superblock")
	case sb.tableSectors == 0 || sb.tableSectors > maxTableSectors:
		return sb, formatErr(sbTableSectors, what, "file table of %d sectors, want 1..%d", sb.tableSectors, maxTableSectors)
	case tableEnd(sb) > sb.imageSize:
		return sb, formatErr(sbTableLBA, what, "file table (LBA %d, %d sectors) runs past the image end %#x", sb.tableLBA, sb.tableSectors, sb.imageSize)
	}
	return sb, nil
}

// tableEnd is the first byte after the file table; no extent may start
// before it. The arithmetic is in uint64 so hostile values cannot overflow.
func tableEnd(sb superblock) uint64 {
	return (uint64(sb.tableLBA) + uint64(sb.tableSectors)) * SectorSize
}

func readTable(r io.ReaderAt, sb superblock, limit int64) ([]Entry, error) {
	start := int64(sb.tableLBA) * SectorSize
	table := make([]byte, int(sb.tableSectors)*SectorSize)
	if _, err := r.ReadAt(table, start); err != nil {
		return nil, fmt.Errorf("disk: reading file table: %w", err)
	}
	var entries []Entry
	for i := 0; i+EntrySize <= len(table); i += EntrySize {
		raw := table[i : i+EntrySize]
		if allZero(raw[entName : entName+NameSize]) {
			break // an all-zero name ends the table
		}
		off := start + int64(i)
		e, err := decodeEntry(raw, off, len(entries))
		if err != nil {
			return nil, err
		}
		if err := checkExtent(e, off, len(entries), tableEnd(sb), uint64(limit)); err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if err := checkDisjoint(entries, start); err != nil {
		return nil, err
	}
	return entries, nil
}

func decodeEntry(raw []byte, off int64, index int) (Entry, error) {
	nameField := raw[entName : entName+NameSize]
	n := bytes.IndexByte(nameField, 0)
	if n < 0 {
		n = NameSize
	}
	what := fmt.Sprintf("entry %d", index)
	if !allZero(nameField[n:]) {
		return Entry{}, formatErr(off+entName, what, "name %q has bytes after its NUL terminator", nameField[:n])
	}
	for j, c := range nameField[:n] {
		if c < 0x20 || c > 0x7e {
			return Entry{}, formatErr(off+entName+int64(j), what, "name %q holds non-printable byte %#02x", nameField[:n], c)
		}
	}
	e := Entry{
		Name:     string(nameField[:n]),
		Flags:    binary.LittleEndian.Uint32(raw[entFlags:]),
		Offset:   binary.LittleEndian.Uint64(raw[entOffset:]),
		Capacity: binary.LittleEndian.Uint64(raw[entCapacity:]),
		Size:     binary.LittleEndian.Uint64(raw[entSize:]),
	}
	if !strings.HasPrefix(e.Name, `\`) {
		return Entry{}, formatErr(off+entName, what, "name %q is not volume-relative (no leading backslash)", e.Name)
	}
	return e, nil
}

func checkExtent(e Entry, off int64, index int, firstData, limit uint64) error {
	what := fmt.Sprintf("entry %d %q", index, e.Name)
	switch {
	case e.Offset%SectorSize != 0:
		return formatErr(off+entOffset, what, "extent offset %#x is not sector aligned", e.Offset)
	case e.Offset < firstData:
		return formatErr(off+entOffset, what, "extent offset %#x overlaps the superblock or file table (data starts at %#x)", e.Offset, firstData)
	case e.Capacity > limit || e.Offset > limit-e.Capacity:
		return formatErr(off+entCapacity, what, "extent [%#x, +%#x) runs past the image end %#x", e.Offset, e.Capacity, limit)
	case e.Size > e.Capacity:
		return formatErr(off+entSize, what, "file size %d exceeds extent capacity %d", e.Size, e.Capacity)
	}
	return nil
}

// checkDisjoint rejects duplicate names and overlapping extents: either
// would let two files alias the same bytes, which the guest never does.
func checkDisjoint(entries []Entry, tableStart int64) error {
	at := func(i int) int64 { return tableStart + int64(i)*EntrySize }
	for i, a := range entries {
		for _, b := range entries[:i] {
			if strings.EqualFold(a.Name, b.Name) {
				return formatErr(at(i), fmt.Sprintf("entry %d %q", i, a.Name), "duplicate name")
			}
		}
	}
	// Sort by offset and compare each extent with the furthest end seen so
	// far, which catches an extent nested anywhere inside an earlier one.
	// Empty extents own no bytes and cannot overlap.
	var idx []int
	for i, e := range entries {
		if e.Capacity > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(i, j int) int { return cmp.Compare(entries[i].Offset, entries[j].Offset) })
	if len(idx) == 0 {
		return nil
	}
	owner := idx[0] // the extent reaching furthest so far
	end := func(e Entry) uint64 { return e.Offset + e.Capacity }
	for _, i := range idx[1:] {
		cur, prev := entries[i], entries[owner]
		if cur.Offset < end(prev) {
			return formatErr(at(i)+entOffset, fmt.Sprintf("entry %d %q", i, cur.Name),
				"extent at %#x overlaps %q [%#x, +%#x)", cur.Offset, prev.Name, prev.Offset, prev.Capacity)
		}
		if end(cur) > end(prev) {
			owner = i
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
