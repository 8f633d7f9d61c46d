package qemu

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLockTCGExcludes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	first, err := LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	if l, err := LockTCG(short); !errors.Is(err, context.DeadlineExceeded) {
		l.Unlock()
		t.Fatalf("second LockTCG = %v, want it to wait until the deadline", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	second, err := LockTCG(ctx)
	if err != nil {
		t.Fatalf("LockTCG after Unlock: %v", err)
	}
	second.Unlock()
	second.Unlock() // idempotent
}
