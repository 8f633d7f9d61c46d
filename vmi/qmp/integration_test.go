package qmp_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/vmi/qmp"
)

const bootDeadline = 3 * time.Minute

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	guesttest.Unavailable(t, format, args...)
}

func requireGuest(t testing.TB) string {
	t.Helper()
	return guesttest.Dir(t)
}

// nextEvent waits for the next event and checks its name.
func nextEvent(t *testing.T, ctx context.Context, c *qmp.Client, want string) qmp.Event {
	t.Helper()
	select {
	case e, ok := <-c.Events():
		if !ok {
			t.Fatalf("Events closed while waiting for %s: %v", want, c.Err())
		}
		if e.Name != want {
			t.Fatalf("event %s (%s), want %s", e.Name, e.Data, want)
		}
		return e
	case <-ctx.Done():
		t.Fatalf("no %s event", want)
	}
	return qmp.Event{}
}

// TestAgainstQEMU runs every command Frost uses against a real QEMU 7.2
// with mini-NT, then quits QEMU and checks that the dead socket is
// reported as such.
func TestAgainstQEMU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	m, err := minint.Start(ctx, minint.Config{GuestDir: requireGuest(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatal(err)
	}
	c, err := qmp.Dial(ctx, m.QMPSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if g := c.Greeting(); g.Version.QEMU.Major < 7 {
		t.Errorf("greeting %+v", g.Version)
	}

	s, err := c.QueryStatus(ctx)
	if err != nil || s.Status != qmp.StatusRunning || !s.Running {
		t.Fatalf("query-status: %+v, %v", s, err)
	}
	if k, err := c.QueryKVM(ctx); err != nil || k.Enabled {
		t.Errorf("query-kvm under TCG: %+v, %v", k, err)
	}

	t.Run("stop and cont", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ctx, c, qmp.EventStop)
		if s, _ := c.QueryStatus(ctx); s.Status != qmp.StatusPaused || s.Running {
			t.Errorf("after stop: %+v", s)
		}
		if err := c.Cont(ctx); err != nil {
			t.Fatal(err)
		}
		nextEvent(t, ctx, c, qmp.EventResume)
	})

	t.Run("memory backends", func(t *testing.T) {
		bs, err := c.MemoryBackends(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || bs[0].ID != "mem" || bs[0].Type != "memory-backend-file" || !bs[0].Share ||
			bs[0].MemPath != m.RAMPath() || bs[0].Size != minint.DefaultMemoryMB<<20 {
			t.Errorf("backends %+v", bs)
		}
	})

	t.Run("memory tree", func(t *testing.T) {
		views, err := c.MemoryTree(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v, err := qmp.SystemView(views)
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := v.Lookup(0x100000); !ok || r.Region != "mem" || r.Offset != 0x100000 {
			t.Errorf("1 MiB maps to %+v", r)
		}
		blocks, err := c.RAMBlocks(ctx)
		if err != nil || blocks[0].Name != "mem" || blocks[0].Used != minint.DefaultMemoryMB<<20 {
			t.Errorf("ramblocks %+v, %v", blocks, err)
		}
	})

	t.Run("registers", func(t *testing.T) {
		cpus, err := c.Registers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cpus) != 1 || cpus[0].IDT.Base == 0 || cpus[0].IDT.Limit == 0 || cpus[0].Values["CR3"] == 0 || cpus[0].Values["EFER"]&0x400 == 0 {
			t.Errorf("registers of a long-mode guest: %+v", cpus)
		}
	})

	t.Run("errors", func(t *testing.T) {
		var v any
		var qe *qmp.Error
		if err := c.QOMGet(ctx, "/objects/nope", "x", &v); !errors.As(err, &qe) || qe.Class != qmp.ClassDeviceNotFound {
			t.Errorf("qom-get of a missing object: %v", err)
		}
		if err := c.Execute(ctx, "no-such-command", nil, nil); !errors.As(err, &qe) || qe.Class != qmp.ClassCommandNotFound {
			t.Errorf("an unknown command: %v", err)
		}
		var he *qmp.HMPError
		if _, err := c.HMP(ctx, "info nosuch"); !errors.As(err, &he) {
			t.Errorf("an unknown HMP command: %v", err)
		}
		if err := c.StartGDBServer(ctx, "unix:/nonexistent/dir/gdb.sock,server=on,wait=off"); !errors.As(err, &he) {
			t.Errorf("gdbserver on a bad path: %v", err)
		}
	})

	t.Run("gdbserver", func(t *testing.T) {
		// QEMU runs one gdbstub: the -gdb one vmi/qemu started is replaced.
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(dir, "gdb.sock")
		if err := c.StartGDBServer(ctx, "unix:"+sock+",server=on,wait=off"); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatalf("the new gdbstub does not accept: %v", err)
		}
		conn.Close()
		// A gdb connection stops the guest (QEMU's gdbstub does that on
		// connect); let it run again.
		if err := c.Cont(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.StopGDBServer(ctx); err != nil {
			t.Fatal(err)
		}
		drain(c)
	})

	// vmi/qemu runs QEMU with -no-reboot, so a reset becomes a SHUTDOWN
	// and QEMU exits: the socket dies under the client.
	err = c.Execute(ctx, "system_reset", nil, nil)
	var ce *qmp.ConnError
	if err != nil && !errors.As(err, &ce) {
		t.Fatalf("system_reset: %v", err)
	}
	e := nextEvent(t, ctx, c, qmp.EventShutdown)
	if e.Reason() != "host-qmp-system-reset" || e.Guest() {
		t.Errorf("SHUTDOWN reason %q guest %v", e.Reason(), e.Guest())
	}
	checkDead(t, ctx, c)
}

// checkDead expects the connection to end with a ConnError, and Events to
// close.
func checkDead(t *testing.T, ctx context.Context, c *qmp.Client) {
	t.Helper()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the connection outlived QEMU")
	}
	var ce *qmp.ConnError
	if _, err := c.QueryStatus(ctx); !errors.As(err, &ce) {
		t.Errorf("a command to a dead QEMU: %v, want *ConnError", err)
	} else {
		t.Logf("dead socket: %v", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Error("Events still open after QEMU exited")
	}
}

// TestResetAndQuit runs a bare QEMU (SeaBIOS only, no -no-reboot, which
// vmi/qemu always passes) to see RESET for a reset, and SHUTDOWN then a
// dead socket for quit.
func TestResetAndQuit(t *testing.T) {
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		unavailable(t, "qemu-system-x86_64 not found (run `make deps`)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	cmd := exec.Command(bin, "-machine", "pc", "-accel", "tcg", "-m", "32", "-display", "none", "-monitor", "none",
		"-serial", "none", "-nic", "none", "-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
			t.Fatal("QEMU did not open its QMP socket")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := qmp.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	if err := c.Execute(ctx, "system_reset", nil, nil); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(t, ctx, c, qmp.EventReset)
	if e.Guest() || e.Reason() != "host-qmp-system-reset" {
		t.Errorf("RESET guest=%v reason %q", e.Guest(), e.Reason())
	}
	err = c.Execute(ctx, "quit", nil, nil)
	var ce *qmp.ConnError
	if err != nil && !errors.As(err, &ce) {
		t.Fatalf("quit: %v", err)
	}
	if e := nextEvent(t, ctx, c, qmp.EventShutdown); e.Reason() != "host-qmp-quit" {
		t.Errorf("SHUTDOWN reason %q", e.Reason())
	}
	checkDead(t, ctx, c)
}

// drain discards events already queued.
func drain(c *qmp.Client) {
	for {
		select {
		case <-c.Events():
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
