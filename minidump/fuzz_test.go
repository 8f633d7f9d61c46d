package minidump

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// countingWriter counts what Write writes without keeping it.
type countingWriter struct{ n uint64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += uint64(len(p)); return len(p), nil }

// fuzzDump builds a Dump from fuzzed bytes: what a process dump takes
// from guest memory (module names, bases and sizes, thread ids and
// stacks, memory ranges) is all the guest's to choose.
func fuzzDump(data []byte) Dump {
	le := binary.LittleEndian
	var d Dump
	take := func(n int) []byte {
		if len(data) < n {
			data = append(data, make([]byte, n-len(data))...)
		}
		b := data[:n]
		data = data[n:]
		return b
	}
	counts := take(3)
	for i := 0; i < int(counts[0]%8); i++ {
		h := take(17)
		name := string(take(int(h[16] % 64)))
		d.Modules = append(d.Modules, Module{Base: le.Uint64(h), Size: le.Uint32(h[8:]), TimeDateStamp: le.Uint32(h[12:]),
			Name: name, PDB: RSDS{Name: name, Age: uint32(h[16])}})
	}
	for i := 0; i < int(counts[1]%8); i++ {
		h := take(20)
		d.Threads = append(d.Threads, Thread{ID: le.Uint32(h), Stack: Range{Base: le.Uint64(h[4:]), Size: le.Uint64(h[12:])}})
	}
	for i := 0; i < int(counts[2]%16); i++ {
		h := take(16)
		d.Memory = append(d.Memory, Range{Base: le.Uint64(h), Size: le.Uint64(h[8:])})
	}
	d.Comment = string(data)
	return d
}

// FuzzPlan: any Dump a guest could lead to is refused with ErrInvalid or
// planned, and a planned one writes exactly the bytes its plan says, each
// memory range asked for once and inside its range.
func FuzzPlan(f *testing.F) {
	le := binary.LittleEndian
	seed := []byte{1, 1, 2}
	seed = append(le.AppendUint32(le.AppendUint32(le.AppendUint64(seed, 0x7ff600000000), 0x3000), 0x5f000000), 8)
	seed = append(seed, "calc.exe"...)
	seed = le.AppendUint64(le.AppendUint64(le.AppendUint32(seed, 4), 0x1000), 0x1000)
	seed = le.AppendUint64(le.AppendUint64(seed, 0x1000), 0x2000)
	seed = le.AppendUint64(le.AppendUint64(seed, 0x7ff600000000), 0x1000)
	f.Add(append(seed, "comment"...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		d := fuzzDump(data)
		p, err := NewPlan(d)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("NewPlan: %v, not ErrInvalid", err)
			}
			return
		}
		if p.MemoryOffset() > p.Size() || p.MemoryBytes() != p.Size()-p.MemoryOffset() {
			t.Fatalf("plan: memory at %d of %d, %d bytes", p.MemoryOffset(), p.Size(), p.MemoryBytes())
		}
		if p.MemoryBytes() > 4<<20 {
			return // writing it would only take time
		}
		var asked uint64
		var w countingWriter
		n, err := p.Write(&w, func(b []byte, addr uint64) error {
			asked += uint64(len(b))
			for _, r := range d.Memory {
				if addr >= r.Base && addr-r.Base < r.Size && uint64(len(b)) <= r.Size-(addr-r.Base) {
					return nil
				}
			}
			t.Fatalf("asked for %#x+%d, in no range", addr, len(b))
			return io.ErrUnexpectedEOF
		})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if n != p.Size() || w.n != p.Size() || asked != p.MemoryBytes() {
			t.Fatalf("wrote %d (%d counted, %d of memory), plan says %d (%d of memory)", n, w.n, asked, p.Size(), p.MemoryBytes())
		}
	})
}
