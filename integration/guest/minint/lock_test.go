package minint

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// The lock excludes a second taker until it is released. It runs on a
// private lock file: the machine-wide one may be held by a guest booting
// in another test binary.
func TestLockTCGExcludes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "tcg.lock")
	first, err := lockFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if l, err := lockFile(short, path); !errors.Is(err, context.DeadlineExceeded) {
		l.Unlock()
		t.Fatalf("second LockTCG = %v, want it to wait until the deadline", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	second, err := lockFile(ctx, path)
	if err != nil {
		t.Fatalf("LockTCG after Unlock: %v", err)
	}
	second.Unlock()
	second.Unlock() // idempotent
}
