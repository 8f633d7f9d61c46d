package main

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// An ELF core as QEMU's dump-guest-memory writes one (paging off): the
// header, one PT_NOTE program header, one PT_LOAD per RAM range
// (p_paddr = p_vaddr = its guest-physical start, p_flags 0, as QEMU 7.2
// writes them), the notes, then the ranges' bytes back to back with no
// padding. QEMU 7.2 also appends a section-name table after the memory;
// nothing reads it, and it is left out.
//
// Everything before the first RAM byte is computed up front from the
// physical map and the notes, so the core streams: it can be written to a
// pipe in one pass.
const (
	elfHeaderSize = 64
	phdrSize      = 56
)

// elfNote is one ELF note: an owner name, a type and a descriptor.
type elfNote struct {
	name string
	typ  uint32
	desc []byte
}

// size is the note's encoded size: a 12-byte header, then the name with
// its NUL and the descriptor, each padded to 4 bytes as QEMU pads them.
func (n elfNote) size() int { return 12 + align4(len(n.name)+1) + align4(len(n.desc)) }

func align4(n int) int { return (n + 3) &^ 3 }

func (n elfNote) encode(b []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(len(n.name)+1))
	b = le.AppendUint32(b, uint32(len(n.desc)))
	b = le.AppendUint32(b, n.typ)
	b = append(b, n.name...)
	b = append(b, make([]byte, align4(len(n.name)+1)-len(n.name))...)
	b = append(b, n.desc...)
	return append(b, make([]byte, align4(len(n.desc))-len(n.desc))...)
}

// coreHeaders returns every byte of the core before the first range's
// data: the ELF header, program headers and notes.
func coreHeaders(ranges []*pb.PhysicalRange, notes []elfNote) ([]byte, error) {
	phnum := 1 + len(ranges)
	// Past 0xffff program headers ELF moves the count into a section
	// header (PN_XNUM); no PC's physical map comes near that.
	if phnum >= 0xffff {
		return nil, fmt.Errorf("%d RAM ranges: more than an ELF core's program header count holds", len(ranges))
	}
	notesSize := 0
	for _, n := range notes {
		notesSize += n.size()
	}
	notesOff := uint64(elfHeaderSize + phdrSize*phnum)
	le := binary.LittleEndian
	h := make([]byte, elfHeaderSize, int(notesOff)+notesSize)
	copy(h, elf.ELFMAG)
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le.PutUint16(h[16:], uint16(elf.ET_CORE))
	le.PutUint16(h[18:], uint16(elf.EM_X86_64))
	le.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(h[32:], elfHeaderSize) // e_phoff
	le.PutUint16(h[52:], elfHeaderSize) // e_ehsize
	le.PutUint16(h[54:], phdrSize)      // e_phentsize
	le.PutUint16(h[56:], uint16(phnum))

	h = appendPhdr(h, elf.PT_NOTE, notesOff, 0, uint64(notesSize))
	off := notesOff + uint64(notesSize)
	for _, r := range ranges {
		if r.GetEnd() < r.GetStart() {
			return nil, fmt.Errorf("physical map: range [%#x, %#x) ends before it starts", r.GetStart(), r.GetEnd())
		}
		size := r.GetEnd() - r.GetStart()
		// The map is frostd's word: ranges whose sizes add up past what a
		// file offset holds (int64) would wrap, writing one range over
		// another; no machine has that much RAM.
		if size > math.MaxInt64-off {
			return nil, fmt.Errorf("physical map: range [%#x, %#x) takes the core past %d bytes", r.GetStart(), r.GetEnd(), int64(math.MaxInt64))
		}
		h = appendPhdr(h, elf.PT_LOAD, off, r.GetStart(), size)
		off += size
	}
	for _, n := range notes {
		h = n.encode(h)
	}
	return h, nil
}

func appendPhdr(b []byte, typ elf.ProgType, off, paddr, size uint64) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(typ))
	b = le.AppendUint32(b, 0) // p_flags, as QEMU
	b = le.AppendUint64(b, off)
	b = le.AppendUint64(b, paddr) // p_vaddr: QEMU repeats the GPA without paging
	b = le.AppendUint64(b, paddr)
	b = le.AppendUint64(b, size) // p_filesz
	b = le.AppendUint64(b, size) // p_memsz
	return le.AppendUint64(b, 0) // p_align
}
