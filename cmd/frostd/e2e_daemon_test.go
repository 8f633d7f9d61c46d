package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// frostdProc is frostd as its users run it: the built binary in its own
// process, so that it can be SIGKILLed and started again on the same
// state file.
type frostdProc struct {
	cmd  *exec.Cmd
	sock string
	log  string
	done chan struct{}
	err  error // the exit, once done is closed
	cc   *grpc.ClientConn
}

// buildFrostd builds this package's binary, as `make build` does.
func buildFrostd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "frostd")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building frostd: %v\n%s", err, out)
	}
	return bin
}

// startFrostd runs bin with its socket and state file in dir (the same dir
// for a restart, so the new frostd finds the dead one's state file), the
// guest's build as the symbol path, and waits until its health service
// says SERVING.
func startFrostd(t testing.TB, bin, dir, guestDir, logName string, extra ...string) *frostdProc {
	t.Helper()
	f := &frostdProc{sock: filepath.Join(dir, "frostd.sock"), log: filepath.Join(dir, logName), done: make(chan struct{})}
	logf, err := os.Create(f.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{
		"--listen", f.sock,
		"--state-file", filepath.Join(dir, "state.json"),
		"--data-dir", filepath.Join(dir, "vms"),
		"--symbol-path", guestDir,
		"--log-level", "debug",
	}, extra...)
	f.cmd = exec.Command(bin, args...)
	f.cmd.Stdout, f.cmd.Stderr = logf, logf
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.err = f.cmd.Wait(); close(f.done) }()
	// Whatever happens to the test, this frostd lets its guest go.
	t.Cleanup(func() { f.stop(t) })
	f.cc = dialUnix(t, f.sock)
	hc := healthpb.NewHealthClient(f.cc)
	deadline := time.Now().Add(guestWait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return f
		}
		select {
		case <-f.done:
			t.Fatalf("frostd exited before serving (%v):\n%s", f.err, f.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("frostd did not serve (%v):\n%s", err, f.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (f *frostdProc) output() string {
	b, err := os.ReadFile(f.log)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return string(b)
}

// kill SIGKILLs frostd: no shutdown path runs, as in a crash or the OOM
// killer.
func (f *frostdProc) kill(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-f.done
}

// stop asks frostd to shut down (SIGTERM) and returns its exit error; a
// frostd that does not end within the deadline is killed and reported.
func (f *frostdProc) stop(t testing.TB) error {
	t.Helper()
	select {
	case <-f.done:
		return f.err
	default:
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.done:
		return f.err
	case <-time.After(guestWait):
		_ = f.cmd.Process.Kill()
		<-f.done
		t.Errorf("frostd did not stop on SIGTERM:\n%s", f.output())
		return fmt.Errorf("killed after SIGTERM was ignored")
	}
}

// bootedFrostd is the start every end-to-end test of a booted mini-NT
// shares: frostd (bin) on dir, d booted through it with winboot, and the
// guest's ready line seen. frostd's log is printed if the test fails.
func bootedFrostd(ctx context.Context, t *testing.T, bin, dir, guestDir string, d *testDomain, extra ...string) *frostdProc {
	t.Helper()
	fd := startFrostd(t, bin, dir, guestDir, "frostd-1.log", extra...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	})
	if st := bootWithWinboot(ctx, t, fd.cc, d); !st.GetSuccess() {
		t.Fatalf("boot: %v", st)
	}
	d.waitSerial(t, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	return fd
}
