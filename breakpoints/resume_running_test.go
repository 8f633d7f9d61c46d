package breakpoints

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// staleRunning reports the guest stopped while it runs: the run state a
// target last saw can trail an outside resume (virsh resume, another
// client), as it does between QEMU resuming and the stub saying so.
type staleRunning struct{ *fakeTarget }

func (s staleRunning) Running() (bool, *vmi.Stop) {
	_, stop := s.fakeTarget.Running()
	return false, stop
}

// lockedBuffer is a log sink the manager's goroutine writes while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Resuming a guest that already runs is what was asked for, not a failure:
// no error, and no ERROR line in the log (issue 19).
func TestResumeRunningGuestIsNotAnError(t *testing.T) {
	f := newFake(t, tcgCaps())
	var logs lockedBuffer
	m, err := New(staleRunning{f}, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	if err := m.Resume(context.Background()); err != nil {
		t.Fatalf("Resume of a running guest: %v", err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("resuming a running guest logged an error:\n%s", logs.String())
	}
	if running, _ := f.Running(); !running {
		t.Error("the guest stopped")
	}
}
