package physmem

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestOpenReadOnlyIsReadOnlyAndTheSameFile: the descriptor handed out is
// a new read-only open of the mapped file, even when frostd's own open of
// it could write, and it maps the same bytes; a file replaced behind the
// mapping, and a backend with no file, are refused.
func TestOpenReadOnlyIsReadOnlyAndTheSameFile(t *testing.T) {
	gm := fakeMap(t)
	image := pattern(fakeBlockSize, 7)
	path := writeRAMFile(t, image)
	mem, err := OpenFile(path, gm)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()

	f, size, err := mem.OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if size != fakeBlockSize {
		t.Errorf("size %d, want %d", size, fakeBlockSize)
	}
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if fl&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("F_GETFL %#x: not O_RDONLY", fl)
	}
	if _, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		t.Error("a writable shared mapping of the handed-out descriptor succeeded")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	if !bytes.Equal(data, image) {
		t.Error("the handed-out file maps other bytes than guest RAM")
	}

	// Replace the file by name: the mapping keeps the old inode, and the
	// new file must not be handed out as guest RAM.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, fakeBlockSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if g, _, err := mem.OpenReadOnly(); err == nil {
		g.Close()
		t.Error("a replaced RAM file was handed out")
	}

	ref := NewReferenceMemory(&imageRef{gm: gm, image: image}, gm)
	if _, _, err := ref.OpenReadOnly(); !errors.Is(err, ErrNotShareable) {
		t.Errorf("reference backend: %v, want ErrNotShareable", err)
	}
	mem.Close()
	if _, _, err := mem.OpenReadOnly(); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
