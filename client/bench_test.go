package client

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// BenchmarkLocalRead puts a 4 KiB ReadVirtual through the client's local
// path (side socket mapping, processor walk of four levels, copy) beside
// a raw copy of the same frame out of a mapping of the same file, and a
// 4 KiB ReadPhysical from the mapping, with no guest and no gRPC call in
// the timed loops: the client's own overhead over the floor.
//
//	go test -run '^$' -bench LocalRead -count 3 ./client/
func BenchmarkLocalRead(b *testing.B) {
	sock, f := startFake(b, "share")
	ctx := context.Background()
	c, err := Dial(ctx, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil { // learns the DTB
		b.Fatal(err)
	}
	b.Run("virtual", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("physical", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if err := c.ReadPhysical(ctx, "vm", fakeFrame, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		rf, err := os.Open(filepath.Join(filepath.Dir(sock), "ram"))
		if err != nil {
			b.Fatal(err)
		}
		data, err := syscall.Mmap(int(rf.Fd()), 0, fakeRAM, syscall.PROT_READ, syscall.MAP_SHARED)
		rf.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer syscall.Munmap(data)
		b.SetBytes(4096)
		for b.Loop() {
			copy(buf, data[fakeFrame:fakeFrame+4096])
		}
	})
	// The DTB is asked again once a second (DefaultDTBMaxAge): a few
	// virtual calls in a run of seconds, nothing per read.
	if p, _ := f.calls(); p != 0 {
		b.Errorf("the timed physical reads asked frostd %d times", p)
	}
}
