package integration

import (
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// KASLR's range and granularity, as winload implements Windows'.
const (
	kaslrLow   = 0xfffff80000000000
	kaslrHigh  = 0xfffff80800000000
	kaslrAlign = 2 << 20
)

// kernelBase boots mini-NT with seed and returns the kernel base the kernel
// reports, after checking it against the loader's and the range.
func kernelBase(t testing.TB, seed uint64) uint64 {
	t.Helper()
	m := start(t, minint.Config{Seed: minint.Seed(seed)})
	kernel := waitEvent(t, m, "kernel")
	base := uintField(t, kernel, "base")
	loader, ok := report(t, m).First("loader")
	if !ok {
		t.Fatal("no loader event")
	}
	if s := uintField(t, loader, "seed"); s != seed {
		t.Errorf("loader seed = %d, want %d", s, seed)
	}
	if lb := uintField(t, loader, "kernel-base"); lb != base {
		t.Errorf("loader put the kernel at %#x, the kernel says %#x", lb, base)
	}
	if base%kaslrAlign != 0 || base < kaslrLow || base >= kaslrHigh {
		t.Errorf("kernel base %#x (seed %d) is not 2 MiB aligned in [%#x, %#x)", base, seed, uint64(kaslrLow), uint64(kaslrHigh))
	}
	if err := m.Stop(); err != nil { // free the TCG lock for the next boot
		t.Fatal(err)
	}
	return base
}

// TestKASLR checks that different seeds give different kernel bases and that
// a seed fully determines the base.
func TestKASLR(t *testing.T) {
	requireGuest(t)
	a := kernelBase(t, 1)
	b := kernelBase(t, 2)
	if a == b {
		t.Errorf("seeds 1 and 2 both put the kernel at %#x", a)
	}
	if again := kernelBase(t, 1); again != a {
		t.Errorf("seed 1 put the kernel at %#x, then at %#x", a, again)
	}
}

// TestPhysBitsQEMU checks the guest sees the 46 physical-address bits that
// -cpu qemu64,phys-bits=46 promises.
func TestPhysBitsQEMU(t *testing.T) {
	m := start(t, minint.Config{Seed: minint.Seed(3)})
	cpu := waitEvent(t, m, "cpu")
	if bits := uintField(t, cpu, "phys-bits"); bits != 46 {
		t.Errorf("guest reports phys-bits=%d under QEMU, want 46 (%s)", bits, cpu.Line)
	}
}
