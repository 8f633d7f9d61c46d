package physmem

import (
	"context"
	"testing"
)

// BenchmarkReadOverhead isolates the per-read cost of the mapped backend
// (translation, locking, fault guard) from memory speed: one hot 4 KiB
// page of a fake RAM file, against a plain copy of the same page.
func BenchmarkReadOverhead(b *testing.B) {
	gm := fakeMap(b)
	mem, err := OpenFile(writeRAMFile(b, pattern(fakeBlockSize, 1)), gm)
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	src := mem.src.(*mmapSource)
	p := make([]byte, 4096)
	const gpa = fakeHighGPA + 0x3000
	off, _, _ := gm.Translate(gpa)
	b.Run("raw-copy", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			copy(p, src.data[off:off+4096])
		}
	})
	b.Run("translate", func(b *testing.B) {
		for b.Loop() {
			gm.Translate(gpa)
		}
	})
	b.Run("ReadPhysical", func(b *testing.B) {
		b.SetBytes(4096)
		ctx := context.Background()
		for b.Loop() {
			mem.ReadPhysical(ctx, gpa, p)
		}
	})
}
