package physmem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// procSource reads guest RAM out of QEMU's address space through
// /proc/<pid>/mem, at the host address where QEMU mapped the RAM block.
type procSource struct {
	f    *os.File
	pid  int
	base uint64 // host address of RAM block offset 0
}

func (s *procSource) read(_ context.Context, p []byte, gpa, off uint64) error {
	if _, err := s.f.ReadAt(p, int64(s.base+off)); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("physmem: reading GPA %#x from /proc/%d/mem at %#x: %w", gpa, s.pid, s.base+off, err)
	}
	return nil
}

func (s *procSource) close() error {
	err := s.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}

// OpenProcess reads guest RAM through /proc/<pid>/mem of QEMU process pid.
// Which of QEMU's mappings holds the RAM block is not written anywhere
// (`info ramblock` has no host address in QEMU 7.2), so every mapping at
// least as large as the block is a candidate, and a candidate is used
// only once pages read through it match the same pages read through ref.
// With no match it fails with a *VerifyError.
func OpenProcess(ctx context.Context, pid int, gm *Map, ref Reference) (*Memory, error) {
	if ref == nil {
		return nil, errors.New("physmem: /proc/<pid>/mem needs a reference reader to verify the mapping it picks")
	}
	if pid <= 0 {
		return nil, fmt.Errorf("physmem: bad QEMU pid %d", pid)
	}
	dir := "/proc/" + strconv.Itoa(pid)
	f, err := os.Open(dir + "/mem")
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("physmem: %w (reading another process's memory needs ptrace access: root, or the same user under kernel.yama.ptrace_scope=0)", err)
		}
		return nil, fmt.Errorf("physmem: %w", err)
	}
	mf, err := os.Open(dir + "/maps")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("physmem: %w", err)
	}
	maps, err := parseMaps(mf)
	mf.Close()
	if err != nil {
		f.Close()
		return nil, err
	}
	verr := &VerifyError{PID: pid, Block: gm.Block(), Size: gm.BlockSize()}
	for _, c := range candidates(maps, gm.BlockSize()) {
		src := &procSource{f: f, pid: pid, base: c.base}
		if err := verify(ctx, gm, src, ref); err != nil {
			if ctx.Err() != nil {
				f.Close()
				return nil, fmt.Errorf("physmem: verifying /proc/%d/mem: %w", pid, context.Cause(ctx))
			}
			verr.Rejected = append(verr.Rejected, Rejected{Mapping: c.String(), Err: err})
			continue
		}
		return newMemory(gm, src, KindProcMem, fmt.Sprintf("pid %d at %s", pid, c)), nil
	}
	f.Close()
	return nil, verr
}

// VerifyError is OpenProcess finding no mapping of QEMU whose pages match
// the reference reader's.
type VerifyError struct {
	PID      int
	Block    string
	Size     uint64
	Rejected []Rejected // each candidate mapping, and why it did not match
}

// Rejected is one candidate mapping that failed verification.
type Rejected struct {
	Mapping string
	Err     error
}

func (e *VerifyError) Error() string {
	msg := fmt.Sprintf("physmem: no mapping of QEMU pid %d matches RAM block %q (%d bytes) as the reference reader sees it", e.PID, e.Block, e.Size)
	if len(e.Rejected) == 0 {
		return msg + ": no readable mapping is that large"
	}
	for _, r := range e.Rejected {
		msg += fmt.Sprintf("; %s: %v", r.Mapping, r.Err)
	}
	return msg
}
