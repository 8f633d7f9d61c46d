package physmem

import (
	"context"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/frostvmi/frost/vmi/qmp"
)

// sysMemfdCreate is memfd_create on linux/amd64; package syscall predates
// it and golang.org/x/sys is not a direct dependency.
const sysMemfdCreate = 319

// memfd makes a memfd named as QEMU names a memory-backend-memfd's.
func memfd(t *testing.T, image []byte) *os.File {
	t.Helper()
	name, _ := syscall.BytePtrFromString("memory-backend-memfd")
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(name)), 0, 0)
	if errno != 0 {
		t.Skipf("memfd_create: %v", errno)
	}
	f := os.NewFile(fd, "memfd")
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteAt(image, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOpenMemfd(t *testing.T) {
	image := pattern(fakeBlockSize, 17)
	f := memfd(t, image)
	m, err := mapFile(f, fakeBlockSize) // QEMU maps it too
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()

	mon := fakeQEMU(qmp.MemoryBackend{ID: "mem", Type: "memory-backend-memfd", Size: fakeBlockSize, Share: true})
	mem, err := Open(context.Background(), Options{Monitor: mon, PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Kind() != KindMemfd {
		t.Errorf("kind %v", mem.Kind())
	}
	p := make([]byte, 8)
	if err := mem.ReadPhysical(context.Background(), fakeHighGPA+8, p); err != nil || string(p) != string(image[fakeHighOff+8:fakeHighOff+16]) {
		t.Errorf("read: %v", err)
	}

	// Without the pid there is no way to the memfd.
	mem2, err := Open(context.Background(), Options{Monitor: mon})
	if err == nil {
		mem2.Close()
		t.Error("memfd opened without QEMU's pid")
	}
}
