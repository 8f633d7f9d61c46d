package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// File describes one entry of an image being built.
type File struct {
	// Name is the volume-relative path, e.g. `\frost\log.txt`.
	Name string
	// Exists marks a created file; otherwise the entry is reserved.
	Exists bool
	// Data is the file's contents; its length becomes the entry's size.
	// A reserved entry has none.
	Data []byte
	// Offset places the extent; 0 means right after the previous extent
	// (or the file table), at the next sector boundary.
	Offset uint64
	// Capacity is the extent's size; 0 means len(Data) rounded up to a
	// sector. It must be a multiple of SectorSize.
	Capacity uint64
	// Fill, when non-zero, is written over the extent past Data, so the
	// guest's writes can be told from bytes nobody wrote.
	Fill byte
}

// maxEntries is how many entries the standard-size table holds.
const maxEntries = standardTableSectors * SectorSize / EntrySize

// Create writes a new image of size bytes at path, replacing any file there.
// The file is sparse: only the metadata, file data and filled extents take
// space on the host.
func Create(path string, size int64, files []File) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	// Truncating up makes a hole, which reads as the zeros Build expects.
	if err := f.Truncate(size); err != nil {
		return err
	}
	if err := Build(f, size, files); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Build lays out an image of size bytes through w, which must read as zeros
// wherever Build does not write (a fresh sparse file, a zeroed buffer).
// It checks the layout with the same rules Open applies, so whatever Build
// accepts, Open reads back.
func Build(w io.WriterAt, size int64, files []File) error {
	if size < 0 || size%SectorSize != 0 {
		return fmt.Errorf("disk: image size %d is not a non-negative multiple of %d", size, SectorSize)
	}
	if len(files) > maxEntries {
		return fmt.Errorf("disk: %d files, the table holds %d", len(files), maxEntries)
	}
	sb := superblock{version: Version, tableLBA: standardTableLBA, tableSectors: standardTableSectors, imageSize: uint64(size)}
	if tableEnd(sb) > uint64(size) {
		return fmt.Errorf("disk: image size %d cannot hold the superblock and file table", size)
	}
	entries, err := place(files, tableEnd(sb), uint64(size))
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(sb.encode(), 0); err != nil {
		return err
	}
	table := make([]byte, int(sb.tableSectors)*SectorSize)
	for i, e := range entries {
		encodeEntry(table[i*EntrySize:], e)
	}
	if _, err := w.WriteAt(table, int64(sb.tableLBA)*SectorSize); err != nil {
		return err
	}
	for i, f := range files {
		if err := writeExtent(w, entries[i], f); err != nil {
			return fmt.Errorf("disk: writing %s: %w", f.Name, err)
		}
	}
	return nil
}

// place turns the requested files into table entries and validates them.
func place(files []File, firstData, limit uint64) ([]Entry, error) {
	var entries []Entry
	next := firstData
	for i, f := range files {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		if !f.Exists && len(f.Data) > 0 {
			return nil, fmt.Errorf("disk: %s: a reserved entry holds no data", f.Name)
		}
		e := Entry{Name: f.Name, Offset: f.Offset, Capacity: f.Capacity, Size: uint64(len(f.Data))}
		if f.Exists {
			e.Flags = FlagExists
		}
		if e.Offset == 0 {
			e.Offset = roundUp(next, SectorSize)
		}
		if e.Capacity == 0 {
			e.Capacity = roundUp(e.Size, SectorSize)
		}
		if e.Capacity%SectorSize != 0 {
			return nil, fmt.Errorf("disk: %s: capacity %d is not a multiple of %d", f.Name, e.Capacity, SectorSize)
		}
		if err := checkExtent(e, 0, i, firstData, limit); err != nil {
			return nil, layoutErr(err)
		}
		entries = append(entries, e)
		next = e.Offset + e.Capacity
	}
	if err := checkDisjoint(entries, 0); err != nil {
		return nil, layoutErr(err)
	}
	return entries, nil
}

// layoutErr rewords a reader's FormatError for the writer's caller, whose
// problem is a bad request, not a malformed image; the byte offset in the
// table means nothing to them.
func layoutErr(err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return fmt.Errorf("disk: bad layout: %s: %s", fe.What, fe.Msg)
	}
	return err
}

func checkName(name string) error {
	switch {
	case len(name) == 0 || name[0] != '\\':
		return fmt.Errorf("disk: name %q is not volume-relative (no leading backslash)", name)
	case len(name) >= NameSize:
		// Keep one NUL so the guest can treat the field as a C string.
		return fmt.Errorf("disk: name %q is %d bytes, at most %d fit", name, len(name), NameSize-1)
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c > 0x7e {
			return fmt.Errorf("disk: name %q holds non-printable byte %#02x", name, c)
		}
	}
	return nil
}

func writeExtent(w io.WriterAt, e Entry, f File) error {
	if len(f.Data) > 0 {
		if _, err := w.WriteAt(f.Data, int64(e.Offset)); err != nil {
			return err
		}
	}
	if f.Fill == 0 {
		return nil
	}
	// Fill in chunks: a paging-file extent is megabytes.
	chunk := bytes.Repeat([]byte{f.Fill}, 1<<20)
	for off := e.Size; off < e.Capacity; {
		n := min(uint64(len(chunk)), e.Capacity-off)
		if _, err := w.WriteAt(chunk[:n], int64(e.Offset+off)); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func roundUp(n, to uint64) uint64 {
	return (n + to - 1) / to * to
}
