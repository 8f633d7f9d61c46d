package vmi

import (
	"context"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// stubReference reads guest-physical memory through the gdbstub's
// physical mode: QEMU's own view, which physmem verifies a
// /proc/<pid>/mem mapping against and falls back to when nothing better
// exists. It needs the guest stopped (any byte sent to a running guest
// stops it), so as a backend its reads fail with ErrRunning while
// the guest runs.
type stubReference struct{ c *gdbstub.Client }

func (r stubReference) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	_, err := r.c.ReadPhysical(ctx, gpa, p)
	return err
}
