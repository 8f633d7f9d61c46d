package physmem

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/vmi/qmp"
)

func fakeQEMU(backends ...qmp.MemoryBackend) *qmp.Monitor {
	return qmp.NewMonitor(&fakeMonitor{mtree: fakeMtree, ramblock: fakeRAMBlocks, backends: backends})
}

func TestOpenSharedFile(t *testing.T) {
	image := pattern(fakeBlockSize, 9)
	path := writeRAMFile(t, image)
	mon := fakeQEMU(qmp.MemoryBackend{ID: "mem", Type: "memory-backend-file", Size: fakeBlockSize, Share: true, MemPath: path})
	mem, err := Open(context.Background(), Options{Monitor: mon})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Kind() != KindSharedFile || !strings.Contains(mem.String(), path) {
		t.Errorf("opened %v", mem)
	}
	p := make([]byte, 8)
	if err := mem.ReadPhysical(context.Background(), fakeHighGPA, p); err != nil || string(p) != string(image[fakeHighOff:fakeHighOff+8]) {
		t.Errorf("high read: %v", err)
	}
}

// A file whose inode QEMU does not map is stale (replaced since QEMU
// opened it): refused when the pid allows checking.
func TestOpenStaleFile(t *testing.T) {
	path := writeRAMFile(t, pattern(fakeBlockSize, 9))
	mon := fakeQEMU(qmp.MemoryBackend{ID: "mem", Type: "memory-backend-file", Size: fakeBlockSize, Share: true, MemPath: path})
	_, err := Open(context.Background(), Options{Monitor: mon, PID: os.Getpid()})
	var oe *OpenError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "stale") {
		t.Errorf("got %v, want an OpenError about a stale file", err)
	}
}

// With share=off the file never sees guest writes, so /proc/<pid>/mem is
// next, and the reference after it.
func TestOpenFallsBack(t *testing.T) {
	gm := fakeMap(t)
	image := pattern(fakeBlockSize, 11)
	ram := guardedMapping(t, fakeBlockSize)
	copy(ram, image)
	ref := &imageRef{gm: gm, image: image}
	mon := fakeQEMU(qmp.MemoryBackend{ID: "mem", Type: "memory-backend-file", Size: fakeBlockSize, MemPath: writeRAMFile(t, image)})

	mem, err := Open(context.Background(), Options{Monitor: mon, PID: os.Getpid(), Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	if mem.Kind() != KindProcMem {
		t.Errorf("kind %v, want /proc/<pid>/mem", mem.Kind())
	}
	if s := mem.Skipped(); len(s) != 1 || s[0].Kind != KindSharedFile || !strings.Contains(s[0].Err.Error(), "share=off") {
		t.Errorf("skipped %v", s)
	}
	mem.Close()

	mem, err = Open(context.Background(), Options{Monitor: mon, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	if mem.Kind() != KindReference || len(mem.Skipped()) != 2 {
		t.Errorf("kind %v, skipped %v", mem.Kind(), mem.Skipped())
	}
}

func TestOpenNothingWorks(t *testing.T) {
	mon := fakeQEMU(qmp.MemoryBackend{ID: "pc.ram", Type: "memory-backend-ram", Size: fakeBlockSize})
	_, err := Open(context.Background(), Options{Monitor: mon})
	var oe *OpenError
	if !errors.As(err, &oe) || len(oe.Attempts) != 3 {
		t.Fatalf("got %v, want an OpenError with three attempts", err)
	}
	if !strings.Contains(err.Error(), "private memory") || !strings.Contains(err.Error(), "pid is unknown") {
		t.Errorf("error does not explain: %v", err)
	}
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open without a monitor")
	}
}

// A mem-path directory: QEMU's file there is unlinked, and only its fd in
// /proc/<pid>/fd reaches it.
func TestOpenUnlinkedFileInDirectory(t *testing.T) {
	dir := t.TempDir()
	image := pattern(fakeBlockSize, 13)
	path := filepath.Join(dir, "qemu_back_mem.mem.Xy12ab")
	if err := os.WriteFile(path, image, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Map it as QEMU would, so the inode shows in our maps.
	m, err := mapFile(f, fakeBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	os.Remove(path)

	mon := fakeQEMU(qmp.MemoryBackend{ID: "mem", Type: "memory-backend-file", Size: fakeBlockSize, Share: true, MemPath: dir})
	mem, err := Open(context.Background(), Options{Monitor: mon, PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	p := make([]byte, 8)
	if err := mem.ReadPhysical(context.Background(), 0x100000, p); err != nil || string(p) != string(image[0x100000:0x100008]) {
		t.Errorf("read: %v", err)
	}
	if _, err := Open(context.Background(), Options{Monitor: mon}); err == nil {
		t.Error("a directory mem-path opened without QEMU's pid")
	}
}

func TestIsQEMUTempFile(t *testing.T) {
	for target, want := range map[string]bool{
		"/dev/shm/ram/qemu_back_mem.pc.ram.AbCdEf": true,
		"/dev/shm/ram/other":                       false,
		"/dev/shm/ramx/qemu_back_mem.pc.ram.x":     false,
		"/dev/shm/ram/sub/qemu_back_mem.x":         false,
	} {
		if got := isQEMUTempFile("/dev/shm/ram/", target); got != want {
			t.Errorf("%s: %v", target, got)
		}
	}
}
