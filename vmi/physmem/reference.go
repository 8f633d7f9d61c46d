package physmem

import (
	"context"
	"fmt"
)

// Reference reads guest-physical memory through QEMU itself: the gdbstub
// in physical mode (Qqemu.PhyMemMode:1, then m) is the intended one. It
// is slow, but it is QEMU's own view of the guest, which is why it is
// what a /proc/<pid>/mem mapping is checked against, and the backend of
// last resort.
//
// ReadPhysical fills p from gpa or fails. Reads only ever touch guest RAM
// as the Map knows it: QEMU's physical mode reads zeros past RAM rather
// than failing, so the Map, not the reference, says what is RAM.
type Reference interface {
	ReadPhysical(ctx context.Context, gpa uint64, p []byte) error
}

type referenceSource struct {
	ref Reference
}

func (s referenceSource) read(ctx context.Context, p []byte, gpa, _ uint64) error {
	if err := s.ref.ReadPhysical(ctx, gpa, p); err != nil {
		return fmt.Errorf("physmem: reference read of %d bytes at GPA %#x: %w", len(p), gpa, err)
	}
	return nil
}

func (referenceSource) close() error { return nil }

// NewReferenceMemory reads guest RAM through ref, translating nothing but
// refusing every address gm does not map as RAM.
func NewReferenceMemory(ref Reference, gm *Map) *Memory {
	return newMemory(gm, referenceSource{ref}, KindReference, fmt.Sprintf("%T", ref))
}
