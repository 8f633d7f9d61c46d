package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi"
)

// eachBuild boots mini-NT to ready once per kernel build (normal,
// reorder, assign; seeds seed, seed+1, seed+2), opens its kernel with that
// build's own PDB, the guest paused, and runs check on it: the structure
// checks against the guest's report, where a reader that assumed one
// layout would be caught by the reordered build.
func eachBuild(t *testing.T, seed uint64, check func(*testing.T, *kernelAt)) {
	t.Helper()
	out := requireGuest(t)
	for i, build := range []string{"", "reorder", "assign"} {
		name := build
		if name == "" {
			name = "normal"
		}
		t.Run(name, func(t *testing.T) {
			cfg := minint.Config{Seed: minint.Seed(seed + uint64(i)), PagingFiles: []string{pagefile}}
			symDir := ""
			if build != "" {
				symDir = filepath.Join(out, build)
				cfg.Kernel = filepath.Join(symDir, "ntoskrnl.exe")
			}
			m, _, _ := bootToReady(t, cfg)
			check(t, openPausedKernel(t, m, symDir))
		})
	}
}

// openPausedKernel takes charge of m, pauses it and opens its kernel with
// the symbols in symDir ("" for the guest's own).
func openPausedKernel(t testing.TB, m *minint.Machine, symDir string) *kernelAt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	tgt, err := vmi.OpenQEMU(ctx, m.Machine, vmi.Options{})
	if err != nil {
		t.Fatalf("taking charge of the guest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
		defer cancel()
		if err := tgt.Close(ctx); err != nil {
			t.Errorf("closing the target: %v", err)
		}
	})
	stop, err := tgt.Pause(ctx)
	if err != nil {
		t.Fatalf("pausing: %v", err)
	}
	return openKernelAt(t, m, tgt, stop, symDir, 0)
}
