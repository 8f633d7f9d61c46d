package vmi

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qemu"
)

// backends returns the target's memory and the other two data-plane
// backends over the same map: /proc/<pid>/mem verified against the
// gdbstub, and the gdbstub in physical mode itself.
func backends(tb testing.TB, m *minint.Machine, g *guest) (proc, stub *physmem.Memory) {
	tb.Helper()
	ref := stubReference{g.gdb}
	proc, err := physmem.OpenProcess(testCtx(tb), m.PID(), g.mem.Map(), ref)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { proc.Close() })
	return proc, physmem.NewReferenceMemory(ref, g.mem.Map())
}

// sameBytes reads [gpa, gpa+n) through every backend, 1 MiB at a time,
// and fails at the first difference.
func sameBytes(ctx context.Context, tb testing.TB, gpa, n uint64, mems ...*physmem.Memory) {
	tb.Helper()
	const chunk = 1 << 20
	bufs := make([][]byte, len(mems))
	for i := range bufs {
		bufs[i] = make([]byte, chunk)
	}
	for off := uint64(0); off < n; off += chunk {
		size := min(chunk, n-off)
		for i, mem := range mems {
			if err := mem.ReadPhysical(ctx, gpa+off, bufs[i][:size]); err != nil {
				tb.Fatalf("%v at %#x: %v", mem, gpa+off, err)
			}
		}
		for i := 1; i < len(mems); i++ {
			if !bytes.Equal(bufs[0][:size], bufs[i][:size]) {
				tb.Fatalf("GPA %#x+1MiB: %v and %v differ", gpa+off, mems[0], mems[i])
			}
		}
	}
}

// checkPastRAM expects errors naming the first address past RAM, for
// reads through the Target and for writes.
func checkPastRAM(ctx context.Context, tb testing.TB, tg Target, mems ...*physmem.Memory) {
	tb.Helper()
	end := tg.(*guest).mem.Map().End()
	var ne *physmem.NotRAMError
	if err := tg.ReadPhysical(ctx, end-0x1000, make([]byte, 0x2000)); !errors.As(err, &ne) || ne.GPA != end {
		tb.Errorf("Target read across the end of RAM at %#x: %v", end, err)
	}
	for _, mem := range mems {
		if err := mem.ReadPhysical(ctx, end, make([]byte, 8)); !errors.As(err, &ne) || ne.GPA != end {
			tb.Errorf("%v: read at the end of RAM %#x: %v", mem, end, err)
		}
	}
	if err := tg.WritePhysical(ctx, end-4, make([]byte, 8)); !errors.As(err, &ne) || ne.GPA != end {
		tb.Errorf("a write across the end of RAM: %v", err)
	}
	if err := tg.WritePhysical(ctx, 0xa0000, make([]byte, 8)); !errors.As(err, &ne) {
		tb.Errorf("a write into the VGA hole: %v", err)
	}
}

// TestDataPlaneBackendsAgree: with mini-NT stopped after ready, all guest
// RAM reads the same through the shared RAM file (the Target's backend),
// /proc/<pid>/mem and the gdbstub's physical mode; a read past RAM is an
// error through each.
func TestDataPlaneBackendsAgree(t *testing.T) {
	m := bootReady(t, minint.Config{})
	g := openTarget(t, m) // the attach stops the guest
	ctx := testCtx(t)
	if g.mem.Kind() != physmem.KindSharedFile {
		t.Fatalf("the Target reads through %v, want the shared RAM file", g.mem)
	}
	proc, stub := backends(t, m, g)
	for _, r := range g.mem.Map().Ranges() {
		sameBytes(ctx, t, r.GPA, r.Size, g.mem, proc, stub)
	}
	t.Logf("all %d MiB of guest RAM identical through %v, %v and the gdbstub", g.mem.Map().BlockSize()>>20, g.mem, proc)
	checkPastRAM(ctx, t, g, g.mem, proc, stub)
}

// TestHighRAMMarker: with -m 5G (sparse in /dev/shm) a marker written by
// the Target (gdbstub M in physical mode) at GPA 0x100000000+x reads back
// identically through all three backends, lies at RAM block offset
// 0xc0000000+x of the RAM file, and Target writes are refused past RAM.
func TestHighRAMMarker(t *testing.T) {
	m := bootReady(t, minint.Config{MemoryMB: 5120})
	g := openTarget(t, m)
	ctx := testCtx(t)
	const x = 0x12345678
	const gpa = 0x100000000 + x
	marker := []byte("frost: a marker written through gdbstub M at GPA 0x100000000+0x12345678")
	if err := g.WritePhysical(ctx, gpa, marker); err != nil {
		t.Fatal(err)
	}
	proc, stub := backends(t, m, g)
	for _, mem := range []*physmem.Memory{g.mem, proc, stub} {
		got := make([]byte, len(marker))
		if err := mem.ReadPhysical(ctx, gpa, got); err != nil || !bytes.Equal(got, marker) {
			t.Errorf("%v reads %q, %v at GPA %#x; want the marker", mem, got, err, uint64(gpa))
		}
	}
	f, err := os.Open(m.RAMPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(marker))
	if _, err := f.ReadAt(got, 0xc0000000+x); err != nil || !bytes.Equal(got, marker) {
		t.Errorf("RAM file at block offset %#x: %q, %v", 0xc0000000+x, got, err)
	}
	sameBytes(ctx, t, gpa&^0xfffff, 1<<20, g.mem, proc, stub)
	checkPastRAM(ctx, t, g, g.mem, proc, stub)
}

// TestPrivateRAMTarget: without a shared memory backend the Target reads
// guest RAM through /proc/<pid>/mem, at the mapping verified against the
// gdbstub, and agrees with the gdbstub.
func TestPrivateRAMTarget(t *testing.T) {
	m := bootReady(t, minint.Config{RAM: qemu.RAMPrivate})
	g := openTarget(t, m)
	ctx := testCtx(t)
	if g.mem.Kind() != physmem.KindProcMem {
		t.Fatalf("the Target reads through %v (skipped %v), want /proc/<pid>/mem", g.mem, g.mem.Skipped())
	}
	stub := physmem.NewReferenceMemory(stubReference{g.gdb}, g.mem.Map())
	sameBytes(ctx, t, 0, 0xa0000, g.mem, stub)
	sameBytes(ctx, t, 0x100000, 16<<20, g.mem, stub)
	checkPastRAM(ctx, t, g, g.mem, stub)
}
