package pe

import (
	dpe "debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Image is what Frost needs to know of a PE image to find its symbols.
type Image struct {
	CodeView
	SizeOfImage   uint32
	Machine       uint16
	TimeDateStamp uint32
}

// PE/COFF layout, from the PE format's public description.
const (
	debugDirIndex   = 6 // IMAGE_DIRECTORY_ENTRY_DEBUG
	debugEntrySize  = 28
	debugTypeCV     = 2 // IMAGE_DEBUG_TYPE_CODEVIEW
	entryType       = 12
	entrySizeOfData = 16
	entryRVA        = 20
	entryFilePtr    = 24
)

// Open reads the identity of the PE file at path.
func Open(path string) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, err
	}
	defer f.Close()
	img, err := Read(f)
	if err != nil {
		return Image{}, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// Read reads the identity of a PE file (file layout).
func Read(r io.ReaderAt) (Image, error) {
	f, err := dpe.NewFile(r)
	if err != nil {
		return Image{}, &FormatError{What: err.Error()}
	}
	img := Image{Machine: f.Machine, TimeDateStamp: f.TimeDateStamp}
	var dirs []dpe.DataDirectory
	switch oh := f.OptionalHeader.(type) {
	case *dpe.OptionalHeader64:
		img.SizeOfImage, dirs = oh.SizeOfImage, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	case *dpe.OptionalHeader32:
		img.SizeOfImage, dirs = oh.SizeOfImage, oh.DataDirectory[:min(int(oh.NumberOfRvaAndSizes), len(oh.DataDirectory))]
	default:
		return Image{}, bad("no optional header")
	}
	if len(dirs) <= debugDirIndex || dirs[debugDirIndex].Size == 0 {
		return Image{}, bad("no debug directory")
	}
	dd := dirs[debugDirIndex]
	if dd.Size > maxDebugEntries*debugEntrySize {
		return Image{}, bad("debug directory of %d bytes", dd.Size)
	}
	raw, err := readRVA(f, r, dd.VirtualAddress, dd.Size, 0)
	if err != nil {
		return Image{}, fmt.Errorf("pe: debug directory: %w", err)
	}
	for e := raw; len(e) >= debugEntrySize; e = e[debugEntrySize:] {
		if binary.LittleEndian.Uint32(e[entryType:]) != debugTypeCV {
			continue
		}
		size := binary.LittleEndian.Uint32(e[entrySizeOfData:])
		if size < rsdsHeader+1 || size > MaxCodeView {
			return Image{}, bad("CodeView record of %d bytes", size)
		}
		rec, err := readRVA(f, r, binary.LittleEndian.Uint32(e[entryRVA:]), size, binary.LittleEndian.Uint32(e[entryFilePtr:]))
		if err != nil {
			return Image{}, fmt.Errorf("pe: CodeView record: %w", err)
		}
		img.CodeView, err = ParseRSDS(rec)
		return img, err
	}
	return Image{}, bad("no CodeView debug entry")
}

// readRVA reads size bytes at rva from the section that holds them in the
// file, or at filePtr when no section's file data does.
func readRVA(f *dpe.File, r io.ReaderAt, rva, size, filePtr uint32) ([]byte, error) {
	b := make([]byte, size)
	for _, s := range f.Sections {
		if rva >= s.VirtualAddress && uint64(rva)+uint64(size) <= uint64(s.VirtualAddress)+uint64(s.Size) {
			if _, err := s.ReadAt(b, int64(rva-s.VirtualAddress)); err != nil {
				return nil, err
			}
			return b, nil
		}
	}
	if filePtr == 0 {
		return nil, bad("RVA %#x+%#x is in no section's file data", rva, size)
	}
	if _, err := r.ReadAt(b, int64(filePtr)); err != nil {
		return nil, err
	}
	return b, nil
}
