package physmem

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// The reference backend asks the reference only for RAM: QEMU's physical
// mode would answer zeros for a hole, and those zeros must never surface.
func TestReferenceMemory(t *testing.T) {
	gm := fakeMap(t)
	image := pattern(fakeBlockSize, 3)
	ref := &imageRef{gm: gm, image: image}
	mem := NewReferenceMemory(ref, gm)
	defer mem.Close()
	if mem.Kind() != KindReference {
		t.Errorf("kind %v", mem.Kind())
	}
	p := make([]byte, 0x2000)
	if err := mem.ReadPhysical(context.Background(), fakeHighGPA, p); err != nil || !bytes.Equal(p, image[fakeHighOff:fakeHighOff+0x2000]) {
		t.Errorf("high read: %v", err)
	}
	reads := ref.reads
	n, err := mem.ReadAt(p, 0x9f000)
	var ne *NotRAMError
	if !errors.As(err, &ne) || ne.GPA != 0xa0000 || n != 0x1000 {
		t.Errorf("read into the hole: %d, %v", n, err)
	}
	if ref.reads != reads+1 {
		t.Errorf("%d reference reads for one page of RAM before a hole", ref.reads-reads)
	}
}

type failingRef struct{}

func (failingRef) ReadPhysical(context.Context, uint64, []byte) error { return errors.New("stub gone") }

func TestReferenceErrors(t *testing.T) {
	gm := fakeMap(t)
	mem := NewReferenceMemory(failingRef{}, gm)
	err := mem.ReadPhysical(context.Background(), 0x1000, make([]byte, 8))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("stub gone")) {
		t.Errorf("got %v", err)
	}
}
