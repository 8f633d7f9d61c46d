package physmem_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// TestOpenReadOnlyMemfd: the descriptor handed to a local client for a
// memory-backend-memfd (reopened through /proc/<pid>/fd) is read-only,
// refuses a writable shared mapping, and maps the bytes frostd reads.
// A bare QEMU with no guest: SeaBIOS fills low RAM.
func TestOpenReadOnlyMemfd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: starts QEMU, and -short is set")
	}
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		unavailable(t, "qemu-system-x86_64 not found (run `make deps`)")
	}
	ctx := deadline(t)
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	cmd := exec.Command(bin, "-machine", "pc,memory-backend=mem", "-accel", "tcg", "-m", "64",
		"-object", "memory-backend-memfd,id=mem,size=64M,share=on",
		"-display", "none", "-monitor", "none", "-serial", "none", "-nic", "none", "-no-reboot",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &tailWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("QEMU did not open its QMP socket: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := qmp.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(500 * time.Millisecond) // SeaBIOS writes low RAM
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mem, err := physmem.Open(ctx, physmem.Options{Monitor: c.Monitor, PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Kind() != physmem.KindMemfd {
		t.Fatalf("Open chose %v, want the memfd", mem)
	}
	f, size, err := mem.OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0)
	if errno != 0 || fl&syscall.O_ACCMODE != syscall.O_RDONLY {
		t.Errorf("F_GETFL %#x (%v): not O_RDONLY", fl, errno)
	}
	if m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED); err == nil {
		syscall.Munmap(m)
		t.Error("the memfd handed out maps writable and shared")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(data)
	want := make([]byte, 0xa0000)
	if err := mem.ReadPhysical(context.Background(), 0, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:0xa0000], want) || bytes.Count(want, []byte{0}) == len(want) {
		t.Error("the handed-out memfd does not hold what frostd reads below 640 KiB (or SeaBIOS wrote nothing)")
	}
	t.Logf("handed out %s, %d MiB, read-only", f.Name(), size>>20)
}
