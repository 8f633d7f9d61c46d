package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Memory reads guest virtual memory. ReadAt fills p from addr or returns
// an error; a page that is not present is an error, not zeros.
type Memory interface {
	ReadAt(p []byte, addr uint64) (int, error)
}

// PageSize is the granule at which unreadable memory is reported.
const PageSize = 4096

// UnreadableError lists the pages of an image that could not be read.
type UnreadableError struct {
	What  string   // what was being read: "headers", "debug directory", ...
	Pages []uint64 // page addresses, ascending
	Err   error    // the first read error
}

func (e *UnreadableError) Error() string {
	pages := make([]string, len(e.Pages))
	for i, p := range e.Pages {
		pages[i] = fmt.Sprintf("%#x", p)
	}
	return fmt.Sprintf("pe: %s: page(s) %s unreadable: %v", e.What, strings.Join(pages, ", "), e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// readPages reads n bytes at addr one page at a time, so every page that
// fails is named, not just the first.
func readPages(m Memory, addr uint64, n uint32, what string) ([]byte, error) {
	out := make([]byte, n)
	var ue *UnreadableError
	for off := uint64(0); off < uint64(n); {
		a := addr + off
		chunk := min(uint64(n)-off, PageSize-a%PageSize)
		got, err := m.ReadAt(out[off:off+chunk], a)
		if err == nil && uint64(got) != chunk {
			err = fmt.Errorf("short read: %d of %d bytes", got, chunk)
		}
		if err != nil {
			if ue == nil {
				ue = &UnreadableError{What: what, Err: err}
			}
			ue.Pages = append(ue.Pages, a&^(PageSize-1))
		}
		off += chunk
	}
	if ue != nil {
		sort.Slice(ue.Pages, func(i, j int) bool { return ue.Pages[i] < ue.Pages[j] })
		return nil, ue
	}
	return out, nil
}

// Mapped reads the identity of the image mapped at base in m (loaded
// layout: sections at their RVAs). Every offset and size comes from the
// guest, so each is checked against SizeOfImage and fixed bounds before
// anything is read or allocated.
func Mapped(m Memory, base uint64) (Image, error) {
	le := binary.LittleEndian
	dos, err := readPages(m, base, 64, "DOS header")
	if err != nil {
		return Image{}, err
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return Image{}, bad("no MZ signature at %#x", base)
	}
	lfanew := le.Uint32(dos[0x3c:])
	// NT headers live in the first pages; a larger e_lfanew is corrupt.
	if lfanew < 64 || lfanew > 0x10000 {
		return Image{}, bad("e_lfanew %#x", lfanew)
	}
	nt, err := readPages(m, base+uint64(lfanew), 24, "NT headers")
	if err != nil {
		return Image{}, err
	}
	if string(nt[:4]) != "PE\x00\x00" {
		return Image{}, bad("no PE signature at e_lfanew %#x", lfanew)
	}
	img := Image{Machine: le.Uint16(nt[4:]), TimeDateStamp: le.Uint32(nt[8:])}
	optSize := le.Uint16(nt[20:])
	if optSize < 96 || optSize > 0x1000 {
		return Image{}, bad("optional header of %d bytes", optSize)
	}
	opt, err := readPages(m, base+uint64(lfanew)+24, uint32(optSize), "optional header")
	if err != nil {
		return Image{}, err
	}
	var dirs int // offset of the data directories
	switch magic := le.Uint16(opt); magic {
	case 0x20b: // PE32+
		dirs = 112
	case 0x10b: // PE32
		dirs = 96
	default:
		return Image{}, bad("optional header magic %#x", magic)
	}
	if len(opt) < dirs {
		return Image{}, bad("optional header of %d bytes for magic %#x", len(opt), le.Uint16(opt))
	}
	img.SizeOfImage = le.Uint32(opt[56:])
	if img.SizeOfImage == 0 || img.SizeOfImage > MaxImageSize || uint64(lfanew)+24+uint64(optSize) > uint64(img.SizeOfImage) {
		return Image{}, bad("SizeOfImage %#x", img.SizeOfImage)
	}
	nDirs := le.Uint32(opt[dirs-4:])
	at := dirs + debugDirIndex*8
	if nDirs <= debugDirIndex || at+8 > len(opt) {
		return Image{}, bad("no debug directory (%d data directories)", nDirs)
	}
	ddRVA, ddSize := le.Uint32(opt[at:]), le.Uint32(opt[at+4:])
	if ddSize == 0 {
		return Image{}, bad("no debug directory")
	}
	if err := inImage(img.SizeOfImage, ddRVA, ddSize, maxDebugEntries*debugEntrySize, "debug directory"); err != nil {
		return Image{}, err
	}
	raw, err := readPages(m, base+uint64(ddRVA), ddSize, "debug directory")
	if err != nil {
		return Image{}, err
	}
	// Up to 64 entries may each be wrong; the first few say enough, and
	// an image has one CodeView entry, so at most four are read.
	var errs []error
	tried := 0
	note := func(err error) {
		if len(errs) < 4 {
			errs = append(errs, err)
		}
	}
	for e := raw; len(e) >= debugEntrySize; e = e[debugEntrySize:] {
		if le.Uint32(e[entryType:]) != debugTypeCV {
			continue
		}
		if tried++; tried > 4 {
			break
		}
		size, rva := le.Uint32(e[entrySizeOfData:]), le.Uint32(e[entryRVA:])
		if rva == 0 {
			// Not mapped: only in the file, so not in memory.
			note(bad("CodeView entry has no AddressOfRawData"))
			continue
		}
		if size < rsdsHeader+1 {
			note(bad("CodeView record of %d bytes", size))
			continue
		}
		if err := inImage(img.SizeOfImage, rva, size, MaxCodeView, "CodeView record"); err != nil {
			note(err)
			continue
		}
		rec, err := readPages(m, base+uint64(rva), size, "CodeView record")
		if err != nil {
			return Image{}, err
		}
		cv, err := ParseRSDS(rec)
		if err != nil {
			note(err)
			continue
		}
		img.CodeView = cv
		return img, nil
	}
	if len(errs) == 0 {
		return Image{}, bad("no CodeView debug entry")
	}
	return Image{}, errors.Join(errs...)
}

// inImage checks that [rva, rva+size) lies in the image and size is at
// most limit.
func inImage(sizeOfImage, rva, size, limit uint32, what string) error {
	if size > limit || uint64(rva)+uint64(size) > uint64(sizeOfImage) {
		return bad("%s of %d bytes at RVA %#x (SizeOfImage %#x, limit %d)", what, size, rva, sizeOfImage, limit)
	}
	return nil
}
