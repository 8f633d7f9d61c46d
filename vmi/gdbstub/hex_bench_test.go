package gdbstub

import "testing"

// BenchmarkDecodeHex is the decoding of one 4 KiB "m" reply (memory) and
// one x86-64 "g" reply (registers, with "xx" for none): the per-byte cost
// every stop and every read pays.
func BenchmarkDecodeHex(b *testing.B) {
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte(i * 7)
	}
	mHex := appendHex(nil, page)
	b.Run("m-4KiB", func(b *testing.B) {
		dst := make([]byte, len(page))
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			if !decodeHex(dst, mHex, nil) {
				b.Fatal("not hex")
			}
		}
	})
	regs := make([]byte, 560)
	gHex := appendHex(nil, regs)
	copy(gHex[2*540:], "xxxxxxxx")
	b.Run("g-560B", func(b *testing.B) {
		dst := make([]byte, len(regs))
		unavailable := make([]bool, len(regs))
		b.SetBytes(int64(len(regs)))
		b.ReportAllocs()
		for b.Loop() {
			if !decodeHex(dst, gHex, unavailable) {
				b.Fatal("not hex")
			}
		}
	})
}
