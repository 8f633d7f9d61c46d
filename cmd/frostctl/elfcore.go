package main

import (
	"debug/elf"
	"encoding/binary"
	"io"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// ELF core layout: the header, one PT_LOAD program header per RAM range
// (p_paddr = p_vaddr = its guest-physical start), then the ranges' bytes
// back to back, as QEMU's dump-guest-memory and Volatility expect.
const (
	elfHeaderSize = 64
	phdrSize      = 56
)

// writeELFHeader writes the header and program headers, and returns the
// file offset where the first range's bytes start.
func writeELFHeader(w io.Writer, ranges []*pb.PhysicalRange) (uint64, error) {
	var h [elfHeaderSize]byte
	copy(h[:], elf.ELFMAG)
	h[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(h[16:], uint16(elf.ET_CORE))
	le.PutUint16(h[18:], uint16(elf.EM_X86_64))
	le.PutUint32(h[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(h[32:], elfHeaderSize) // e_phoff
	le.PutUint16(h[52:], elfHeaderSize) // e_ehsize
	le.PutUint16(h[54:], phdrSize)      // e_phentsize
	le.PutUint16(h[56:], uint16(len(ranges)))
	if _, err := w.Write(h[:]); err != nil {
		return 0, err
	}
	off := uint64(elfHeaderSize + phdrSize*len(ranges))
	data := off
	for _, r := range ranges {
		var p [phdrSize]byte
		size := r.GetEnd() - r.GetStart()
		le.PutUint32(p[0:], uint32(elf.PT_LOAD))
		le.PutUint32(p[4:], uint32(elf.PF_R|elf.PF_W|elf.PF_X))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], r.GetStart())
		le.PutUint64(p[24:], r.GetStart())
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
		if _, err := w.Write(p[:]); err != nil {
			return 0, err
		}
		off += size
	}
	return data, nil
}
