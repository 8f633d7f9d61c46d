package minint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// TCGLockPath is the machine-wide lock file every TCG boot holds: the
// machine has two cores, and two TCG guests plus the Go test binaries would
// starve each other into timeouts.
func TCGLockPath() string {
	if st, err := os.Stat("/run/lock"); err == nil && st.IsDir() {
		return "/run/lock/frost-tcg.lock"
	}
	return filepath.Join(os.TempDir(), "frost-tcg.lock")
}

// TCGLock is a held TCG lock.
type TCGLock struct {
	f *os.File
}

// lockPoll is how often LockTCG retries; flock itself cannot be cancelled.
const lockPoll = 100 * time.Millisecond

// LockTCG blocks until this process holds the machine-wide TCG lock or ctx
// ends. The lock is an flock, so the kernel drops it if the process dies.
// Locks taken twice in one process exclude each other too.
func LockTCG(ctx context.Context) (*TCGLock, error) {
	return lockFile(ctx, TCGLockPath())
}

// lockFile takes the flock on path, waiting for it until ctx ends.
func lockFile(ctx context.Context, path string) (*TCGLock, error) {
	// Read-only is enough for flock, so a lock file made by another user
	// with mode 0644 still serves.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("minint: TCG lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &TCGLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("minint: TCG lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("minint: waiting for the TCG lock %s (another TCG guest runs): %w", path, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}

// Unlock releases the lock; it is safe to call more than once.
func (l *TCGLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Closing the only descriptor releases the flock.
	return f.Close()
}
