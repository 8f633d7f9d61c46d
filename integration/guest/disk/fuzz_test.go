package disk

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzNewVolume feeds arbitrary bytes to the parser. Whatever the input, it
// must return a volume or an error, never panic, and a volume it accepts
// must keep every extent inside the image. The committed corpus in
// testdata/fuzz/FuzzNewVolume holds a valid image and near misses.
//
// Run it with a short -fuzzminimizetime (e.g. 3s): with the default 60 s,
// minimizing each new input stalls the run and reads as a hang.
func FuzzNewVolume(f *testing.F) {
	// Only the compact committed seeds: a 64 KiB standard-table image makes
	// every minimization crawl.
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := NewVolume(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, io.EOF) {
				t.Fatalf("error is neither a *FormatError nor EOF: %v", err)
			}
			return
		}
		for _, e := range v.Entries() {
			if e.Offset+e.Capacity > uint64(v.Size()) || e.Size > e.Capacity {
				t.Fatalf("accepted entry %+v outside the %d-byte image", e, v.Size())
			}
			r, err := v.ReadExtent(e.Name)
			if err != nil {
				t.Fatalf("ReadExtent(%q) of a listed entry: %v", e.Name, err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || uint64(n) != e.Capacity {
				t.Fatalf("ReadExtent(%q) read %d bytes, %v; want %d", e.Name, n, err, e.Capacity)
			}
			if e.Exists() {
				if b, err := v.ReadFile(e.Name); err != nil || uint64(len(b)) != e.Size {
					t.Fatalf("ReadFile(%q) = %d bytes, %v; want %d", e.Name, len(b), err, e.Size)
				}
			}
		}
	})
}
