package physmem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// bootDeadline bounds every wait on a guest (mini-NT is ready in about a
// second under TCG); a deadline, never a timing assertion.
const bootDeadline = 3 * time.Minute

// unavailable skips, or fails when FROST_REQUIRE_INTEGRATION is set (make
// test sets it), so CI cannot pass by skipping the real QEMU runs.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	guesttest.Unavailable(t, format, args...)
}

// requireGuest returns the built mini-NT directory, or skips.
func requireGuest(t testing.TB) string {
	t.Helper()
	return guesttest.Dir(t)
}

func deadline(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	t.Cleanup(cancel)
	return ctx
}

// bootReady boots mini-NT, waits for its ready line, connects QMP (our
// client then owns the QMP socket: minint.Machine.Pause would wait behind
// it) and stops the vCPUs, so that backends compared one after the other
// see the same memory.
func bootReady(t testing.TB, cfg minint.Config) (*minint.Machine, *qmp.Client) {
	t.Helper()
	cfg.GuestDir = requireGuest(t)
	ctx := deadline(t)
	m, err := minint.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting mini-NT: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stopping QEMU: %v", err)
		}
	})
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}
	c, err := qmp.Dial(ctx, m.QMPSocket())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return m, c
}

// fileRef stands in for the gdbstub as the reference reader, keeping
// physmem's own tests free of the control plane (vmi's tests use the real
// gdbstub): it reads the shared RAM file directly with pread, by the same
// Map. It is independent of the backend code under test (no mapping, no
// /proc), not of the Map.
type fileRef struct {
	f  *os.File
	gm *physmem.Map
}

func newFileRef(t testing.TB, path string, gm *physmem.Map) *fileRef {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &fileRef{f: f, gm: gm}
}

func (r *fileRef) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	off, n, err := r.gm.Translate(gpa)
	if err != nil {
		return err
	}
	if n < uint64(len(p)) {
		return fmt.Errorf("fileRef: read crosses a range end")
	}
	_, err = r.f.ReadAt(p, int64(off))
	return err
}

// pmemRef reads guest-physical memory through QEMU itself, with QMP
// pmemsave into a file: slow, but QEMU's own view of the guest's address
// space, so it checks the Map as well as the backends.
type pmemRef struct {
	mon  *qmp.Monitor
	path string
}

func newPmemRef(t testing.TB, mon *qmp.Monitor) *pmemRef {
	return &pmemRef{mon: mon, path: filepath.Join(t.TempDir(), "pmemsave")}
}

func (r *pmemRef) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	args := map[string]any{"val": gpa, "size": len(p), "filename": r.path}
	if err := r.mon.Execute(ctx, "pmemsave", args, nil); err != nil {
		return err
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	if len(b) != len(p) {
		return fmt.Errorf("pmemsave wrote %d bytes, want %d", len(b), len(p))
	}
	copy(p, b)
	return nil
}
