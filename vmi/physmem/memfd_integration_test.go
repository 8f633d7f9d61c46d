package physmem_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// TestMemfd runs QEMU with a memory-backend-memfd, which vmi/qemu does
// not offer, so it starts a bare machine itself: no guest, only SeaBIOS,
// which fills low RAM and the BIOS shadow before it finds nothing to
// boot. Open must find the memfd through QOM and /proc/<pid>/fd, and agree
// with QEMU's own reads.
func TestMemfd(t *testing.T) {
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

	dir := t.TempDir()
	sock := filepath.Join(dir, "qmp.sock")
	cmd := exec.Command(bin,
		"-machine", "pc,memory-backend=mem", "-accel", "tcg", "-m", "64",
		"-object", "memory-backend-memfd,id=mem,size=64M,share=on",
		"-display", "none", "-monitor", "none", "-serial", "none", "-nic", "none", "-no-reboot",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &tailWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
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
	// Let SeaBIOS write memory, then hold it still.
	time.Sleep(500 * time.Millisecond)
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
	t.Logf("chose %v", mem)
	checkAgainstQEMU(t, mem, newPmemRef(t, c.Monitor), 0, 0xf0000, 0xe8000)
	checkPastRAM(t, mem)
}

// tailWriter keeps QEMU's output for failure messages.
type tailWriter struct {
	mu sync.Mutex
	b  []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > 8<<10 {
		w.b = w.b[len(w.b)-8<<10:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.b)
}
