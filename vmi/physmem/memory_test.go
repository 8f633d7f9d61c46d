package physmem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

func openFake(t *testing.T) (*Memory, []byte) {
	t.Helper()
	gm := fakeMap(t)
	image := pattern(fakeBlockSize, 0x5a5a)
	mem, err := OpenFile(writeRAMFile(t, image), gm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	return mem, image
}

func TestFileReads(t *testing.T) {
	mem, image := openFake(t)
	if mem.Kind() != KindSharedFile {
		t.Errorf("kind %v", mem.Kind())
	}
	ctx := context.Background()
	for _, tc := range []struct {
		gpa, off uint64
		n        int
	}{
		{0, 0, 4096},
		{0x9f000, 0x9f000, 4096},
		{0xc0000, 0xc0000, 0x40000 + 0x100000}, // BIOS shadow into the RAM above 1 MiB: contiguous in the block too
		{fakeHighGPA + 0x10, fakeHighOff + 0x10, 1<<20 - 0x10},
	} {
		p := make([]byte, tc.n)
		if err := mem.ReadPhysical(ctx, tc.gpa, p); err != nil {
			t.Errorf("read %#x+%#x: %v", tc.gpa, tc.n, err)
			continue
		}
		if !bytes.Equal(p, image[tc.off:tc.off+uint64(tc.n)]) {
			t.Errorf("read %#x+%#x: wrong bytes", tc.gpa, tc.n)
		}
	}
}

// A read that runs into a hole fills what comes before it and names the
// first address that is not RAM; it never returns zeros for the hole.
func TestReadIntoHole(t *testing.T) {
	mem, image := openFake(t)
	p := bytes.Repeat([]byte{0xee}, 0x2000)
	n, err := mem.ReadAt(p, 0x9f000)
	var ne *NotRAMError
	if !errors.As(err, &ne) || ne.GPA != 0xa0000 {
		t.Fatalf("got %v, want a NotRAMError at 0xa0000", err)
	}
	if n != 0x1000 || !bytes.Equal(p[:n], image[0x9f000:0xa0000]) {
		t.Errorf("read %#x bytes before the hole, or wrong ones", n)
	}
	if !bytes.Equal(p[n:], bytes.Repeat([]byte{0xee}, 0x1000)) {
		t.Error("the part of the buffer past the hole was written")
	}
	// Past the end of RAM, from inside and from outside.
	if _, err := mem.ReadAt(make([]byte, 16), int64(fakeHighGPA+1<<20-8)); !errors.As(err, &ne) || ne.GPA != fakeHighGPA+1<<20 {
		t.Errorf("read across the end of RAM: %v", err)
	}
	if _, err := mem.ReadAt(make([]byte, 1), 1<<40); !errors.As(err, &ne) || ne.GPA != 1<<40 {
		t.Errorf("read far past RAM: %v", err)
	}
	if _, err := mem.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative address read")
	}
	if n, err := mem.ReadAt(nil, 0xa0000); n != 0 || err != nil {
		t.Errorf("empty read in a hole: %d, %v", n, err)
	}
}

func TestReadAtIsReaderAt(t *testing.T) {
	mem, image := openFake(t)
	var r io.ReaderAt = mem
	sr := io.NewSectionReader(r, 0x100000, 0x1000)
	b, err := io.ReadAll(sr)
	if err != nil || !bytes.Equal(b, image[0x100000:0x101000]) {
		t.Errorf("SectionReader: %v", err)
	}
}

func TestFileClosed(t *testing.T) {
	mem, _ := openFake(t)
	mem.Close()
	if err := mem.ReadPhysical(context.Background(), 0, make([]byte, 8)); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
	if err := mem.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFileTooShort(t *testing.T) {
	gm := fakeMap(t)
	if _, err := OpenFile(writeRAMFile(t, make([]byte, fakeBlockSize-1)), gm); err == nil {
		t.Error("a RAM file shorter than the block was mapped")
	}
	if _, err := OpenFile(t.TempDir(), gm); err == nil {
		t.Error("a directory was mapped")
	}
}

// A RAM file truncated under the mapping must fail the read, not crash.
func TestFileTruncated(t *testing.T) {
	gm := fakeMap(t)
	path := writeRAMFile(t, pattern(fakeBlockSize, 1))
	mem, err := OpenFile(path, gm)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err = mem.ReadPhysical(context.Background(), 0x100000, make([]byte, 64))
	var fe *FaultError
	if !errors.As(err, &fe) || fe.GPA != 0x100000 {
		t.Errorf("got %v, want a FaultError", err)
	}
}
