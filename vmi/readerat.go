package vmi

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/frostvmi/frost/vmi/physmem"
)

// physicalReadTimeout bounds one read through ReaderAt. The data plane
// answers in microseconds; only the gdbstub fallback is slow, and a stub
// that has not answered in this long never will.
const physicalReadTimeout = 30 * time.Second

// ReaderAt presents a Target's guest-physical memory as an io.ReaderAt,
// which is how translate and nt read (they know nothing of contexts or
// targets). A failed read returns the error, never zeros.
func ReaderAt(t Target) io.ReaderAt { return targetReader{t: t, bounded: needsDeadline(t)} }

type targetReader struct {
	t Target
	// bounded: each read gets its own deadline. A page walk reads 8 bytes
	// at a time, so a timer per read cost ~15% of a large virtual read's
	// CPU; reads that cannot block go without one.
	bounded bool
}

// needsDeadline says whether t's physical reads can block. The mapped
// backends (shared RAM file, memfd) copy from memory and /proc/<pid>/mem is
// a pread: none of them looks at the context. Only the gdbstub's physical
// mode waits on a peer, and a Target that does not say which backend it
// uses might be anything, so both keep the deadline.
func needsDeadline(t Target) bool {
	mb, ok := t.(MemoryBackender)
	if !ok {
		return true
	}
	switch mb.MemoryBackend() {
	case physmem.KindSharedFile, physmem.KindMemfd, physmem.KindProcMem:
		return false
	}
	return true
}

func (r targetReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: physical read at negative offset %d", r.t.Name(), off)
	}
	ctx := context.Background()
	if r.bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, physicalReadTimeout)
		defer cancel()
	}
	if err := r.t.ReadPhysical(ctx, uint64(off), p); err != nil {
		return 0, err
	}
	return len(p), nil
}
