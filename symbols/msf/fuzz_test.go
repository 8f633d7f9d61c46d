package msf_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/internal/minipdb"
	"github.com/frostvmi/frost/symbols/internal/testenv"
	"github.com/frostvmi/frost/symbols/msf"
)

// maxFuzzInput keeps each input cheap: the container's logic (superblock,
// directory, block lists) is all reachable in a few blocks.
const maxFuzzInput = 64 << 10

// FuzzMSF opens arbitrary bytes as an MSF container and reads every
// stream. Whatever it accepts must give each stream at its stated size;
// whatever it refuses must be a FormatError. Open and every Stream read
// together may allocate at most a bounded multiple of the input: every
// size and block number is checked against the file first.
func FuzzMSF(f *testing.F) {
	g, _ := symbols.ParseGUID("606FF669409B00F7FC8C61A9C1670129")
	p := minipdb.PDB{GUID: g, Age: 1, BlockSize: 512,
		Sections: []minipdb.Section{{Name: ".text", VA: 0x1000, Size: 0x100}},
		Publics:  []minipdb.Public{{Name: "Fn", Section: 1, Offset: 4}}}
	f.Add(p.Bytes())
	p.BlockSize = 4096
	f.Add(p.Bytes())
	f.Add([]byte(msf.Magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		before := testenv.HeapAllocated()
		m, err := msf.Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !errors.Is(err, msf.ErrFormat) {
				t.Fatalf("Open: %v, not a format error", err)
			}
			return
		}
		for i := 0; i < m.NumStreams(); i++ {
			size, serr := m.StreamSize(i)
			b, err := m.Stream(i)
			if err != nil {
				continue
			}
			if serr == nil && uint32(len(b)) != size {
				t.Fatalf("stream %d: %d bytes, its size says %d", i, len(b), size)
			}
		}
		// A stream may be listed more than once, each read a copy: the
		// directory may name at most as many blocks as the file has
		// (per stream), so the bound is the input times its stream count.
		limit := uint64(len(data))*uint64(m.NumStreams()+2) + 1<<20
		if used := testenv.HeapAllocated() - before; used > limit {
			t.Fatalf("%d bytes with %d streams allocated %d bytes, over %d", len(data), m.NumStreams(), used, limit)
		}
	})
}
