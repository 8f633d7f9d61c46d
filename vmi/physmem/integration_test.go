package physmem_test

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

// compareAll reads every byte of guest RAM through a and b, 1 MiB at a
// time, and fails at the first difference.
func compareAll(t *testing.T, a, b *physmem.Memory) {
	t.Helper()
	ctx := context.Background()
	const chunk = 1 << 20
	pa, pb := make([]byte, chunk), make([]byte, chunk)
	var total uint64
	for _, r := range a.Map().Ranges() {
		for off := uint64(0); off < r.Size; off += chunk {
			n := min(chunk, r.Size-off)
			gpa := r.GPA + off
			if err := a.ReadPhysical(ctx, gpa, pa[:n]); err != nil {
				t.Fatalf("%v: %v", a, err)
			}
			if err := b.ReadPhysical(ctx, gpa, pb[:n]); err != nil {
				t.Fatalf("%v: %v", b, err)
			}
			if !bytes.Equal(pa[:n], pb[:n]) {
				i := 0
				for pa[i] == pb[i] {
					i++
				}
				t.Fatalf("GPA %#x: %v reads %#x, %v reads %#x", gpa+uint64(i), a, pa[i], b, pb[i])
			}
			total += n
		}
	}
	t.Logf("%d MiB identical through %v and %v", total>>20, a, b)
}

// checkPastRAM reads where there is no RAM and expects errors naming the
// first such address.
func checkPastRAM(t *testing.T, mem *physmem.Memory) {
	t.Helper()
	end := mem.Map().End()
	var ne *physmem.NotRAMError
	n, err := mem.ReadAt(make([]byte, 0x2000), int64(end-0x1000))
	if !errors.As(err, &ne) || ne.GPA != end || n != 0x1000 {
		t.Errorf("%v: read across the end of RAM at %#x: n=%#x, %v", mem, end, n, err)
	}
	if _, err := mem.ReadAt(make([]byte, 8), int64(end)); !errors.As(err, &ne) || ne.GPA != end {
		t.Errorf("%v: read at the end of RAM: %v", mem, err)
	}
	if _, err := mem.ReadAt(make([]byte, 8), 0xa0000); !errors.As(err, &ne) || ne.GPA != 0xa0000 {
		t.Errorf("%v: read in the VGA hole: %v", mem, err)
	}
}

// checkAgainstQEMU compares a few non-empty stretches with QEMU's own
// physical reads (pmemsave), which also checks the Map.
func checkAgainstQEMU(t *testing.T, mem *physmem.Memory, ref *pmemRef, gpas ...uint64) {
	t.Helper()
	ctx := deadline(t)
	for _, gpa := range gpas {
		want := make([]byte, 64<<10)
		got := make([]byte, len(want))
		if err := ref.ReadPhysical(ctx, gpa, want); err != nil {
			t.Fatalf("pmemsave at %#x: %v", gpa, err)
		}
		if err := mem.ReadPhysical(ctx, gpa, got); err != nil {
			t.Fatalf("%v at %#x: %v", mem, gpa, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v and QEMU's pmemsave disagree at GPA %#x", mem, gpa)
		}
		if bytes.Equal(want, make([]byte, len(want))) {
			t.Logf("note: GPA %#x+64K is all zero", gpa)
		}
	}
}

// TestSharedFileAndProcMemAgree reads a stopped mini-NT's whole RAM
// through the mapped RAM file and through /proc/<pid>/mem: they must be
// identical. The /proc mapping is verified against fileRef, a plain pread
// of the RAM file; vmi's TestDataPlaneBackendsAgree does the same with the
// gdbstub's physical mode as the reference and third backend.
func TestSharedFileAndProcMemAgree(t *testing.T) {
	m, c := bootReady(t, minint.Config{})
	ctx := deadline(t)

	shared, err := physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: m.PID()})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	if shared.Kind() != physmem.KindSharedFile || shared.String() != physmem.KindSharedFile.String()+" "+m.RAMPath() {
		t.Fatalf("Open chose %v, want the shared file %s", shared, m.RAMPath())
	}
	gm := shared.Map()
	ref := newFileRef(t, m.RAMPath(), gm)
	proc, err := physmem.OpenProcess(ctx, m.PID(), gm, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	t.Logf("procfs backend: %v", proc)
	byRef := physmem.NewReferenceMemory(ref, gm)

	compareAll(t, shared, proc)
	compareAll(t, shared, byRef)
	pm := newPmemRef(t, c.Monitor)
	checkAgainstQEMU(t, shared, pm, 0x100000, 0x200000, 0xf0000)
	checkAgainstQEMU(t, proc, pm, 0x100000, 0x200000, 0xf0000)
	for _, mem := range []*physmem.Memory{shared, proc, byRef} {
		checkPastRAM(t, mem)
	}
}

// TestHighRAM boots 5 GiB of guest RAM, whose top 2 GiB QEMU maps above
// 4 GiB at RAM block offset 0xc0000000. mini-NT never touches it, so the
// test puts a marker there itself: it writes the RAM file at the block
// offset (QEMU maps the file shared, so the guest sees the write), then
// reads GPA 0x100000000+x through both backends and through QEMU's own
// pmemsave. vmi's TestHighRAMMarker writes the marker with gdbstub M in
// physical mode instead, as Frost does.
func TestHighRAM(t *testing.T) {
	m, c := bootReady(t, minint.Config{MemoryMB: 5120})
	ctx := deadline(t)
	shared, err := physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: m.PID()})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	gm := shared.Map()
	const x = 0x12345000
	const gpa = 0x100000000 + x
	off, _, err := gm.Translate(gpa)
	if err != nil || off != 0xc0000000+x {
		t.Fatalf("GPA %#x translates to %#x, %v; want block offset %#x", uint64(gpa), off, err, 0xc0000000+x)
	}
	marker := []byte("frost high-RAM marker at GPA 0x100000000+0x12345000")
	f, err := os.OpenFile(m.RAMPath(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(marker, int64(off))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	proc, err := physmem.OpenProcess(ctx, m.PID(), gm, newFileRef(t, m.RAMPath(), gm))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	pm := newPmemRef(t, c.Monitor)
	viaQEMU := make([]byte, len(marker))
	if err := pm.ReadPhysical(ctx, gpa, viaQEMU); err != nil {
		t.Fatal(err)
	}
	for _, mem := range []physmem.Reference{shared, proc, pm} {
		got := make([]byte, len(marker))
		if err := mem.ReadPhysical(ctx, gpa, got); err != nil {
			t.Fatalf("%v: %v", mem, err)
		}
		if !bytes.Equal(got, marker) {
			t.Errorf("%v reads %q at GPA %#x, want the marker", mem, got, uint64(gpa))
		}
	}
	// The same page through both backends, and the last page of RAM.
	for _, g := range []uint64{gpa &^ 0xfff, gm.End() - 0x1000} {
		a, b := make([]byte, 0x1000), make([]byte, 0x1000)
		if err := shared.ReadPhysical(ctx, g, a); err != nil {
			t.Fatal(err)
		}
		if err := proc.ReadPhysical(ctx, g, b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("backends disagree at GPA %#x", g)
		}
	}
	var ne *physmem.NotRAMError
	if err := shared.ReadPhysical(ctx, 0xc0000000, make([]byte, 8)); !errors.As(err, &ne) {
		t.Errorf("read in the PCI hole at 3 GiB: %v", err)
	}
	checkPastRAM(t, shared)
	checkPastRAM(t, proc)
}

// TestPrivateRAM boots without a shared backend: Open must pass over the
// file backend, find guest RAM in /proc/<pid>/mem verified against QEMU's
// own reads (pmemsave), and refuse to guess without a reference.
func TestPrivateRAM(t *testing.T) {
	m, c := bootReady(t, minint.Config{RAM: qemu.RAMPrivate})
	ctx := deadline(t)
	pm := newPmemRef(t, c.Monitor)

	mem, err := physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: m.PID(), Reference: pm})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Kind() != physmem.KindProcMem {
		t.Fatalf("Open chose %v, want /proc/<pid>/mem", mem)
	}
	t.Logf("chose %v; skipped %v", mem, mem.Skipped())
	if mem.Map().Block() != "pc.ram" {
		t.Errorf("RAM block %q", mem.Map().Block())
	}
	checkAgainstQEMU(t, mem, pm, 0x100000, 0x300000, 0x7ff0000)
	checkPastRAM(t, mem)

	_, err = physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: m.PID()})
	var oe *physmem.OpenError
	if !errors.As(err, &oe) {
		t.Errorf("Open without a reference: %v, want an OpenError", err)
	}
}
