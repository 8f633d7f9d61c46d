package vmi

import (
	"context"
	"fmt"
	"io"
	"time"
)

// physicalReadTimeout bounds one read through ReaderAt. The data plane
// answers in microseconds; only the gdbstub fallback is slow, and a stub
// that has not answered in this long never will.
const physicalReadTimeout = 30 * time.Second

// ReaderAt presents a Target's guest-physical memory as an io.ReaderAt,
// which is how translate and nt read (they know nothing of contexts or
// targets). A failed read returns the error, never zeros.
func ReaderAt(t Target) io.ReaderAt { return targetReader{t} }

type targetReader struct{ t Target }

func (r targetReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: physical read at negative offset %d", r.t.Name(), off)
	}
	ctx, cancel := context.WithTimeout(context.Background(), physicalReadTimeout)
	defer cancel()
	if err := r.t.ReadPhysical(ctx, uint64(off), p); err != nil {
		return 0, err
	}
	return len(p), nil
}
