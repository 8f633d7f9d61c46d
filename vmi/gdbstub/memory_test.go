package gdbstub

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadMemoryChunks(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{cpus: 2}, AccelTCG, Config{})
	buf := make([]byte, 5000)
	mark := len(f.packets())
	if n, err := c.ReadMemory(ctx(t), ThreadID{1, 2}, 0x1000, buf); err != nil || n != 5000 {
		t.Fatalf("ReadMemory = %d, %v", n, err)
	}
	want := []string{"Hgp1.2", "m1000,800", "m1800,800", "m2000,388"}
	if got := f.packets()[mark:]; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	for i, b := range buf {
		if b != f.mem(0x1000+uint64(i)) {
			t.Fatalf("byte %#x wrong", i)
		}
	}
}

// TestReadMemoryPartial: a read running into unmapped memory returns the
// bytes before the failed chunk and names that chunk.
func TestReadMemoryPartial(t *testing.T) {
	_, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	const start = 1<<63 - 4096 // the fake maps nothing from 1<<63 on
	n, err := c.ReadMemory(ctx(t), ThreadID{}, start, make([]byte, 8192))
	var me *MemoryError
	var se *StubError
	if n != 4096 || !errors.As(err, &me) || me.Addr != 1<<63 || !errors.As(err, &se) || se.Code != CodeEFAULT {
		t.Fatalf("ReadMemory = %d, %v; want 4096 and a MemoryError at 1<<63 wrapping E14", n, err)
	}
	if _, err := c.ReadMemory(ctx(t), ThreadID{}, ^uint64(0)-8, make([]byte, 32)); err == nil {
		t.Error("a read that wraps around the address space")
	}
	if n, err := c.ReadMemory(ctx(t), ThreadID{}, 0, nil); n != 0 || err != nil {
		t.Errorf("empty read: %d, %v", n, err)
	}
}

func TestWriteMemoryChunks(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 3)
	}
	mark := len(f.packets())
	if n, err := c.WriteMemory(ctx(t), ThreadID{}, 0x200000, data); err != nil || n != len(data) {
		t.Fatalf("WriteMemory = %d, %v", n, err)
	}
	var heads []string
	for _, p := range f.packets()[mark:] {
		head, _, _ := strings.Cut(p, ":")
		heads = append(heads, head)
	}
	// The measured maximum: "M200000,7f9:" and 2041 bytes.
	if want := []string{"M200000,7f9", "M2007f9,7f9", "M200ff2,396"}; !slices.Equal(heads, want) {
		t.Errorf("chunks %q, want %q", heads, want)
	}
	got := make([]byte, len(data))
	if _, err := c.ReadMemory(ctx(t), ThreadID{}, 0x200000, got); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %v", err)
	}
}

func TestWriteChunkSize(t *testing.T) {
	c := &Client{packetSize: 0x1000}
	for _, tt := range []struct {
		addr      uint64
		remaining int
		want      int
	}{
		{0x200000, 1 << 20, 2040}, // a longer length field costs a digit
		{0x200000, 0x7f9, 2041},
		{0x200000, 10, 10},
		{0xfffff8017c201000, 1 << 20, 2035},
	} {
		n := c.writeChunk(tt.addr, tt.remaining)
		header := len("M") + hexLen(tt.addr) + 1 + hexLen(uint64(n)) + 1
		if n != tt.want || header+2*n >= c.packetSize {
			t.Errorf("writeChunk(%#x, %d) = %d (payload %d), want %d", tt.addr, tt.remaining, n, header+2*n, tt.want)
		}
	}
}

func TestPhysicalMemory(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	mark := len(f.packets())
	buf := make([]byte, 3000)
	if _, err := c.ReadPhysical(cx, 1<<63, buf); err != nil {
		t.Fatal(err) // unmapped virtually, but physical mode reads it
	}
	want := []string{"Qqemu.PhyMemMode:1", "m8000000000000000,800", "m8000000000000800,3b8", "Qqemu.PhyMemMode:0"}
	if got := f.packets()[mark:]; !slices.Equal(got, want) {
		t.Errorf("ReadPhysical sent %q, want %q", got, want)
	}
	if on, err := c.PhysicalMode(cx); err != nil || on {
		t.Errorf("mode after ReadPhysical: %v %v", on, err)
	}
	if _, err := c.WritePhysical(cx, 0x5000, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// In physical mode already: no switching, and the mode is kept.
	if err := c.SetPhysicalMode(cx, true); err != nil {
		t.Fatal(err)
	}
	mark = len(f.packets())
	if _, err := c.ReadPhysical(cx, 0x5000, buf[:3]); err != nil || !bytes.Equal(buf[:3], []byte{1, 2, 3}) {
		t.Fatalf("read back %x, %v", buf[:3], err)
	}
	if got := f.packets()[mark:]; !slices.Equal(got, []string{"m5000,3"}) {
		t.Errorf("ReadPhysical in physical mode sent %q", got)
	}
	f.set(func(f *fakeStub) {
		if !f.physMode {
			t.Error("the stub left physical mode")
		}
	})
}

// TestPhysicalModeRestoredOnCancel: the switch back is sent even when the
// caller's context ends in the middle of the batch.
func TestPhysicalModeRestoredOnCancel(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{Pipeline: 1})
	f.set(func(f *fakeStub) { f.holdM = 2 }) // the first read is held: with Pipeline 1 no second comes
	cx, cancel := contextWithCancelAfterFirst(t, f, "m0,800")
	_, err := c.ReadPhysical(cx, 0, make([]byte, 8*2048))
	if err == nil {
		t.Fatal("the read survived its cancelled context")
	}
	cancel()
	f.set(func(f *fakeStub) { f.releaseHeld() })
	waitFor(t, "the switch back to virtual mode", func() bool {
		return slices.Contains(f.packets(), "Qqemu.PhyMemMode:0")
	})
	for _, p := range f.packets() {
		if p == "m3000,800" {
			t.Error("reads went on after the context ended")
		}
	}
}
