package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// fuzzCoreInput turns fuzzed bytes into what coreHeaders takes: up to 64
// physical ranges (from frostd's physical map: another process's word,
// not frostctl's) and one note with a name and descriptor.
func fuzzCoreInput(data []byte) ([]*pb.PhysicalRange, []elfNote) {
	le := binary.LittleEndian
	if len(data) == 0 {
		return nil, nil
	}
	n := int(data[0] % 65)
	data = data[1:]
	var ranges []*pb.PhysicalRange
	for i := 0; i < n && len(data) >= 16; i++ {
		ranges = append(ranges, &pb.PhysicalRange{Start: le.Uint64(data), End: le.Uint64(data[8:])})
		data = data[16:]
	}
	var notes []elfNote
	if len(data) > 0 {
		k := min(int(data[0]%32), len(data)-1)
		notes = append(notes, elfNote{name: string(data[1 : 1+k]), typ: 1, desc: data[1+k:]})
	}
	return ranges, notes
}

// FuzzCoreHeaders: whatever physical map frostd sends, the core's headers
// are refused with an error or are an ELF file whose program headers name
// each range at its own, increasing file offset (a wrapped offset would
// write one range's bytes over another's).
func FuzzCoreHeaders(f *testing.F) {
	le := binary.LittleEndian
	seed := []byte{2}
	seed = le.AppendUint64(le.AppendUint64(seed, 0), 0xa0000)
	seed = le.AppendUint64(le.AppendUint64(seed, 0x100000), 0x8000000)
	seed = append(seed, 4, 'C', 'O', 'R', 'E', 1, 2, 3)
	f.Add(seed)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		ranges, notes := fuzzCoreInput(data)
		h, err := coreHeaders(ranges, notes)
		if err != nil {
			return
		}
		ef, err := elf.NewFile(bytes.NewReader(h))
		if err != nil {
			t.Fatalf("headers for %d ranges do not parse: %v", len(ranges), err)
		}
		if len(ef.Progs) != 1+len(ranges) {
			t.Fatalf("%d program headers for %d ranges", len(ef.Progs), len(ranges))
		}
		next := ef.Progs[0].Off + ef.Progs[0].Filesz
		for i, r := range ranges {
			p := ef.Progs[1+i]
			if p.Paddr != r.GetStart() || p.Filesz != r.GetEnd()-r.GetStart() {
				t.Fatalf("range %d [%#x,%#x) written as %#x+%#x", i, r.GetStart(), r.GetEnd(), p.Paddr, p.Filesz)
			}
			if p.Off != next || p.Off+p.Filesz < p.Off {
				t.Fatalf("range %d at file offset %#x+%#x, want %#x without wrapping", i, p.Off, p.Filesz, next)
			}
			next = p.Off + p.Filesz
		}
	})
}
