package pdb

import (
	"encoding/binary"
	"fmt"

	"github.com/frostvmi/frost/symbols"
)

// Fixed stream numbers of a PDB 7.00 file.
const (
	streamPDB = 1
	streamTPI = 2
	streamDBI = 3
)

// noStream marks an absent stream in a 16-bit stream index.
const noStream = 0xFFFF

// info is the PDB info stream's header.
type info struct {
	version   uint32
	signature uint32
	age       uint32
	guid      symbols.GUID
}

func parseInfo(b []byte) (info, error) {
	if len(b) < 28 {
		return info{}, formatErr("PDB info stream", "%d bytes, want at least 28", len(b))
	}
	le := binary.LittleEndian
	in := info{version: le.Uint32(b), signature: le.Uint32(b[4:]), age: le.Uint32(b[8:])}
	copy(in.guid[:], b[12:28])
	return in, nil
}

// dbiHeader holds what Frost needs of the DBI stream's 64-byte header and
// its optional debug header.
type dbiHeader struct {
	age          uint32
	symRecStream uint16
	machine      uint16
	// debug streams: [5] section headers, [4] OMAP from source,
	// [10] original section headers. noStream when absent.
	sectionHdr     uint16
	omapFromSrc    uint16
	sectionHdrOrig uint16
}

const dbiHeaderSize = 64

func parseDBI(b []byte) (dbiHeader, error) {
	if len(b) < dbiHeaderSize {
		return dbiHeader{}, formatErr("DBI stream", "%d bytes, want at least %d", len(b), dbiHeaderSize)
	}
	le := binary.LittleEndian
	if int32(le.Uint32(b)) != -1 {
		return dbiHeader{}, formatErr("DBI stream", "version signature %#x, want 0xffffffff (new DBI format)", le.Uint32(b))
	}
	h := dbiHeader{
		age:            le.Uint32(b[8:]),
		symRecStream:   le.Uint16(b[20:]),
		machine:        le.Uint16(b[58:]),
		sectionHdr:     noStream,
		omapFromSrc:    noStream,
		sectionHdrOrig: noStream,
	}
	// The substreams follow the header in this order; the optional debug
	// header comes after the other six.
	off := uint64(dbiHeaderSize)
	for i, at := range []int{24, 28, 32, 36, 40, 52} {
		n := int32(le.Uint32(b[at:]))
		if n < 0 {
			return dbiHeader{}, formatErr("DBI stream", "substream %d has size %d", i, n)
		}
		off += uint64(n)
	}
	dbgSize := int32(le.Uint32(b[48:]))
	if dbgSize < 0 || off+uint64(dbgSize) > uint64(len(b)) {
		return dbiHeader{}, formatErr("DBI stream", "optional debug header of %d bytes at %d runs past the %d-byte stream", dbgSize, off, len(b))
	}
	dbg := b[off : off+uint64(dbgSize)]
	get := func(i int) uint16 {
		if 2*i+2 <= len(dbg) {
			return le.Uint16(dbg[2*i:])
		}
		return noStream
	}
	h.omapFromSrc, h.sectionHdr, h.sectionHdrOrig = get(4), get(5), get(10)
	return h, nil
}

// section is what an RVA needs of an IMAGE_SECTION_HEADER.
type section struct {
	name string
	va   uint32
	size uint32
}

const sectionHeaderSize = 40

func parseSections(b []byte) []section {
	out := make([]section, 0, len(b)/sectionHeaderSize)
	le := binary.LittleEndian
	for ; len(b) >= sectionHeaderSize; b = b[sectionHeaderSize:] {
		name := b[:8]
		for i, c := range name {
			if c == 0 {
				name = name[:i]
				break
			}
		}
		out = append(out, section{name: string(name), size: le.Uint32(b[8:]), va: le.Uint32(b[12:])})
	}
	return out
}

// omapEntry maps an address of the original image to the optimized one.
type omapEntry struct{ from, to uint32 }

func parseOMAP(b []byte) []omapEntry {
	out := make([]omapEntry, 0, len(b)/8)
	le := binary.LittleEndian
	for ; len(b) >= 8; b = b[8:] {
		out = append(out, omapEntry{le.Uint32(b), le.Uint32(b[4:])})
	}
	return out
}

// addressMap turns a symbol's section:offset into an RVA.
type addressMap struct {
	sections []section
	omap     []omapEntry // nil unless the image was rearranged after linking
}

// rva returns false for a section number outside the table, or an address
// OMAP says was dropped from the final image.
func (m *addressMap) rva(seg uint16, off uint32) (uint64, bool) {
	if seg == 0 || int(seg) > len(m.sections) {
		return 0, false
	}
	a := uint64(m.sections[seg-1].va) + uint64(off)
	if m.omap == nil {
		return a, true
	}
	// The last entry whose source is at or below a translates it.
	lo, hi := 0, len(m.omap)
	for lo < hi {
		mid := (lo + hi) / 2
		if uint64(m.omap[mid].from) <= a {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 || m.omap[lo-1].to == 0 {
		return 0, false
	}
	e := m.omap[lo-1]
	return uint64(e.to) + (a - uint64(e.from)), true
}

// FormatError reports a malformed PDB stream.
type FormatError struct {
	Stream string
	What   string
}

func (e *FormatError) Error() string { return "pdb: " + e.Stream + ": " + e.What }

func formatErr(stream, format string, args ...any) error {
	return &FormatError{Stream: stream, What: fmt.Sprintf(format, args...)}
}

// imageEnd is where the last section ends; 0 with no sections.
func imageEnd(secs []section) uint64 {
	var end uint64
	for _, s := range secs {
		end = max(end, uint64(s.va)+uint64(s.size))
	}
	return end
}
