package pe

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Data directory indices, from the PE format's public description.
const (
	DirExport      = 0
	DirImport      = 1
	DirResource    = 2
	DirException   = 3
	DirSecurity    = 4 // a file offset, not an RVA: never mapped
	DirBaseReloc   = 5
	DirDebug       = 6
	DirTLS         = 9
	DirLoadConfig  = 10
	DirIAT         = 12
	DirDelayImport = 13
	DirCLR         = 14

	// MaxDirectories is the number of data directories the format defines;
	// a header claiming more has the rest ignored, as the loader does.
	MaxDirectories = 16
	// MaxSections bounds the section table: the Windows loader's
	// historical limit, and what fits beside the headers in one page.
	MaxSections = 96
)

// Header layout: offsets into the file header (after "PE\0\0"), the
// optional header and a section header.
const (
	ntHeaderSize  = 24 // signature and file header
	sectionSize   = 40
	fhMachine     = 4
	fhNSections   = 6
	fhTimeDate    = 8
	fhOptSize     = 20
	fhChars       = 22
	ohEntry       = 16
	ohImageBase32 = 28
	ohImageBase64 = 24
	ohSectAlign   = 32
	ohFileAlign   = 36
	ohSizeOfImage = 56
	ohSizeOfHdrs  = 60
	ohCheckSum    = 64
	ohSubsystem   = 68
	ohDllChars    = 70
	ohDirs32      = 96 // data directories of PE32
	ohDirs64      = 112
	shVirtualSize = 8
	shVirtualAddr = 12
	shRawSize     = 16
	shRawPtr      = 20
	shChars       = 36
	magicPE32     = 0x10b
	magicPE32Plus = 0x20b
)

// ErrNoDirectory is wrapped when an image has no data directory of the
// kind asked for: not malformed, just absent (an EXE without exports, a
// DLL without .pdata).
var ErrNoDirectory = errors.New("pe: no such data directory")

// DataDirectory is an entry of the optional header's directory table.
type DataDirectory struct{ RVA, Size uint32 }

// Section is a section header as the image in memory holds it.
type Section struct {
	Name                            string // up to 8 bytes, NUL padding cut; may be any bytes
	VirtualAddress, VirtualSize     uint32
	PointerToRawData, SizeOfRawData uint32
	Characteristics                 uint32
}

// MappedSize is how many bytes the loader maps for s: VirtualSize, or
// SizeOfRawData when VirtualSize is zero (old linkers leave it so).
func (s Section) MappedSize() uint32 {
	if s.VirtualSize != 0 {
		return s.VirtualSize
	}
	return s.SizeOfRawData
}

// Headers are a PE image's headers read from memory.
type Headers struct {
	Base            uint64 // where the image is mapped
	Machine         uint16
	TimeDateStamp   uint32
	Characteristics uint16
	PE32Plus        bool
	// ImageBase is the preferred base from the optional header; it
	// differs from Base when the image was relocated.
	ImageBase                       uint64
	SizeOfImage, SizeOfHeaders      uint32
	SectionAlignment, FileAlignment uint32
	AddressOfEntryPoint, CheckSum   uint32
	Subsystem, DllCharacteristics   uint16
	Directories                     []DataDirectory // NumberOfRvaAndSizes of them, at most 16
	Sections                        []Section       // each inside SizeOfImage
	LfaNew                          uint32
	OptionalHeaderSize              uint16
	NumberOfRvaAndSizes             uint32 // as the header claims it, before the cap

	// read are the header bytes read and parsed, by offset from Base: a
	// module dump keeps them even when the rest of their page is gone.
	read []headerPiece
}

type headerPiece struct {
	off uint32
	b   []byte
}

// Directory returns data directory i and whether the image has it (the
// header lists it with a non-zero RVA and size).
func (h *Headers) Directory(i int) (DataDirectory, bool) {
	if i < 0 || i >= len(h.Directories) {
		return DataDirectory{}, false
	}
	d := h.Directories[i]
	return d, d.RVA != 0 && d.Size != 0
}

// SectionAt returns the section whose mapped bytes hold rva.
func (h *Headers) SectionAt(rva uint32) (Section, bool) {
	for _, s := range h.Sections {
		if rva >= s.VirtualAddress && uint64(rva) < uint64(s.VirtualAddress)+uint64(s.MappedSize()) {
			return s, true
		}
	}
	return Section{}, false
}

// sectionTableEnd is the offset just past the section table.
func (h *Headers) sectionTableEnd() uint32 {
	return h.sectionTable() + uint32(len(h.Sections))*sectionSize
}

func (h *Headers) sectionTable() uint32 {
	return h.LfaNew + ntHeaderSize + uint32(h.OptionalHeaderSize)
}

// sectionHeader is the offset of section i's header from the image base.
func (h *Headers) sectionHeader(i int) uint32 {
	return h.sectionTable() + uint32(i)*sectionSize
}

// MappedHeaders reads the headers of the PE image mapped at base in m
// (loaded layout). Unlike Mapped it needs no debug directory, so it serves
// any image: exports, .pdata and module dumps start here. Every count and
// size comes from the guest, so each is checked against SizeOfImage and
// fixed bounds before it is used; pages that cannot be read are an
// *UnreadableError.
func MappedHeaders(m Memory, base uint64) (*Headers, error) {
	le := binary.LittleEndian
	dos, err := readPages(m, base, 64, "DOS header")
	if err != nil {
		return nil, err
	}
	if dos[0] != 'M' || dos[1] != 'Z' {
		return nil, bad("no MZ signature at %#x", base)
	}
	h := &Headers{Base: base, LfaNew: le.Uint32(dos[0x3c:])}
	h.read = append(h.read, headerPiece{0, dos})
	// NT headers live in the first pages; a larger e_lfanew is corrupt.
	if h.LfaNew < 64 || h.LfaNew > 0x10000 {
		return nil, bad("e_lfanew %#x", h.LfaNew)
	}
	nt, err := readPages(m, base+uint64(h.LfaNew), ntHeaderSize, "NT headers")
	if err != nil {
		return nil, err
	}
	if string(nt[:4]) != "PE\x00\x00" {
		return nil, bad("no PE signature at e_lfanew %#x", h.LfaNew)
	}
	h.read = append(h.read, headerPiece{h.LfaNew, nt})
	h.Machine = le.Uint16(nt[fhMachine:])
	h.TimeDateStamp = le.Uint32(nt[fhTimeDate:])
	h.Characteristics = le.Uint16(nt[fhChars:])
	h.OptionalHeaderSize = le.Uint16(nt[fhOptSize:])
	nSections := le.Uint16(nt[fhNSections:])
	if h.OptionalHeaderSize < ohDirs32 || h.OptionalHeaderSize > 0x1000 {
		return nil, bad("optional header of %d bytes", h.OptionalHeaderSize)
	}
	if nSections > MaxSections {
		return nil, bad("%d sections, over %d", nSections, MaxSections)
	}
	opt, err := readPages(m, base+uint64(h.LfaNew)+ntHeaderSize, uint32(h.OptionalHeaderSize), "optional header")
	if err != nil {
		return nil, err
	}
	if err := h.parseOptional(opt); err != nil {
		return nil, err
	}
	h.read = append(h.read, headerPiece{h.LfaNew + ntHeaderSize, opt})
	// The headers the loader maps must lie inside the image.
	tableEnd := uint64(h.sectionTable()) + uint64(nSections)*sectionSize
	if tableEnd > uint64(h.SizeOfImage) {
		return nil, bad("section table ends at %#x, past SizeOfImage %#x", tableEnd, h.SizeOfImage)
	}
	if h.SizeOfHeaders > h.SizeOfImage {
		return nil, bad("SizeOfHeaders %#x over SizeOfImage %#x", h.SizeOfHeaders, h.SizeOfImage)
	}
	if nSections == 0 {
		return h, nil
	}
	table, err := readPages(m, base+uint64(h.sectionTable()), uint32(nSections)*sectionSize, "section table")
	if err != nil {
		return nil, err
	}
	h.read = append(h.read, headerPiece{h.sectionTable(), table})
	h.Sections = make([]Section, nSections)
	for i := range h.Sections {
		e := table[i*sectionSize:]
		name := e[:8]
		for j, c := range name {
			if c == 0 {
				name = name[:j]
				break
			}
		}
		s := Section{
			Name:             string(name),
			VirtualSize:      le.Uint32(e[shVirtualSize:]),
			VirtualAddress:   le.Uint32(e[shVirtualAddr:]),
			SizeOfRawData:    le.Uint32(e[shRawSize:]),
			PointerToRawData: le.Uint32(e[shRawPtr:]),
			Characteristics:  le.Uint32(e[shChars:]),
		}
		if end := uint64(s.VirtualAddress) + uint64(s.MappedSize()); end > uint64(h.SizeOfImage) {
			return nil, bad("section %d (%q) at RVA %#x+%#x ends past SizeOfImage %#x", i, clip(name), s.VirtualAddress, s.MappedSize(), h.SizeOfImage)
		}
		h.Sections[i] = s
	}
	return h, nil
}

// parseOptional fills h from the optional header's bytes.
func (h *Headers) parseOptional(opt []byte) error {
	le := binary.LittleEndian
	dirs := ohDirs32
	switch magic := le.Uint16(opt); magic {
	case magicPE32Plus:
		h.PE32Plus, dirs = true, ohDirs64
		h.ImageBase = le.Uint64(opt[ohImageBase64:])
	case magicPE32:
		h.ImageBase = uint64(le.Uint32(opt[ohImageBase32:]))
	default:
		return bad("optional header magic %#x", magic)
	}
	if len(opt) < dirs {
		return bad("optional header of %d bytes for magic %#x", len(opt), le.Uint16(opt))
	}
	h.AddressOfEntryPoint = le.Uint32(opt[ohEntry:])
	h.SectionAlignment = le.Uint32(opt[ohSectAlign:])
	h.FileAlignment = le.Uint32(opt[ohFileAlign:])
	h.SizeOfImage = le.Uint32(opt[ohSizeOfImage:])
	h.SizeOfHeaders = le.Uint32(opt[ohSizeOfHdrs:])
	h.CheckSum = le.Uint32(opt[ohCheckSum:])
	h.Subsystem = le.Uint16(opt[ohSubsystem:])
	h.DllCharacteristics = le.Uint16(opt[ohDllChars:])
	if h.SizeOfImage == 0 || h.SizeOfImage > MaxImageSize {
		return bad("SizeOfImage %#x", h.SizeOfImage)
	}
	// An image that would wrap the address space is not one the loader
	// made, and its addresses would alias.
	if h.Base+uint64(h.SizeOfImage) < h.Base {
		return bad("SizeOfImage %#x at %#x wraps the address space", h.SizeOfImage, h.Base)
	}
	h.NumberOfRvaAndSizes = le.Uint32(opt[dirs-4:])
	n := min(h.NumberOfRvaAndSizes, MaxDirectories)
	if uint64(dirs)+uint64(n)*8 > uint64(len(opt)) {
		return bad("%d data directories do not fit in an optional header of %d bytes", n, len(opt))
	}
	h.Directories = make([]DataDirectory, n)
	for i := range h.Directories {
		h.Directories[i] = DataDirectory{RVA: le.Uint32(opt[dirs+8*i:]), Size: le.Uint32(opt[dirs+8*i+4:])}
	}
	return nil
}

// directory returns data directory i after checking that it lies inside
// the image and is at most limit bytes.
func (h *Headers) directory(i int, limit uint32, what string) (DataDirectory, error) {
	d, ok := h.Directory(i)
	if !ok {
		return DataDirectory{}, fmt.Errorf("%w: %s (directory %d)", ErrNoDirectory, what, i)
	}
	if err := inImage(h.SizeOfImage, d.RVA, d.Size, limit, what); err != nil {
		return DataDirectory{}, err
	}
	return d, nil
}
