package minidump

import (
	"fmt"
	"io"
)

// MemoryReader fills p with the process's bytes at addr. Write calls it
// for every memory range in order, in chunks of at most ChunkSize bytes
// that start on a range's base or a ChunkSize boundary after it. An error
// stops the dump: a minidump cannot say "these bytes are missing" once
// its memory list is written, so a caller leaves unreadable pages out of
// Dump.Memory instead.
type MemoryReader func(p []byte, addr uint64) error

// ChunkSize is the most memory Write holds at once.
const ChunkSize = 1 << 20

// Write writes the dump to w: the header and small streams, then every
// memory range's bytes from read. It returns the bytes written.
func (p *Plan) Write(w io.Writer, read MemoryReader) (uint64, error) {
	n, err := w.Write(p.small)
	written := uint64(n)
	if err != nil {
		return written, err
	}
	// Padding between the small streams and the memory bytes.
	if pad := p.memRVA - uint64(len(p.small)); pad > 0 {
		n, err := w.Write(make([]byte, pad))
		written += uint64(n)
		if err != nil {
			return written, err
		}
	}
	var chunk []byte
	for i, r := range p.d.Memory {
		for off := uint64(0); off < r.Size; {
			sz := min(r.Size-off, ChunkSize)
			if uint64(cap(chunk)) < sz {
				chunk = make([]byte, sz)
			}
			c := chunk[:sz]
			if err := read(c, r.Base+off); err != nil {
				return written, fmt.Errorf("minidump: memory range %d at %#x: %w", i, r.Base+off, err)
			}
			n, err := w.Write(c)
			written += uint64(n)
			if err != nil {
				return written, err
			}
			off += sz
		}
	}
	if written != p.size {
		return written, fmt.Errorf("minidump: wrote %d bytes, planned %d", written, p.size)
	}
	return written, nil
}
