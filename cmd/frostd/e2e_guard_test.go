package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/frostvmi/frost/guard"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// TestGuardLetsGoOnLibvirt SIGKILLs frostd while it holds mini-NT three
// ways (while Boot runs with winboot's breakpoints in, while a client holds
// the guest at a breakpoint, during a paused dump) and starts no new
// frostd before checking: the guard alone must let the guest go, its
// breakpoints removed (the guest then runs through NtWriteFile, where a
// breakpoint left in would stop it), QMP's status running, and the state
// file no longer listing the VM. How long after the SIGKILL QMP said
// running is logged (docs/benchmarks.md carries the figures).
func TestGuardLetsGoOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	vm := d.name
	var logs []*frostdProc
	defer func() {
		if t.Failed() {
			for i, fd := range logs {
				t.Logf("frostd %d log:\n%s", i+1, fd.output())
			}
			if b, err := os.ReadFile(filepath.Join(dir, "guard.log")); err == nil {
				t.Logf("guard log:\n%s", b)
			}
		}
	}()
	start := func(name string) *frostdProc {
		fd := startFrostd(t, bin, dir, guestDir, name)
		logs = append(logs, fd)
		return fd
	}
	must := func(ok bool) {
		if !ok {
			t.FailNow()
		}
	}

	must(t.Run("SIGKILL while Boot runs", func(t *testing.T) {
		fd := start("frostd-boot.log")
		stream, err := pb.NewBootServiceClient(fd.cc).Boot(ctx, &pb.BootRequest{
			Name: vm, Winboot: true, Deadline: durationpb.New(10 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		// Killed once winboot's breakpoints are in: left in, they would
		// stop the guest at the paging file's creation.
		for {
			resp, err := stream.Recv()
			if err != nil {
				t.Fatalf("Boot: %v", err)
			}
			if p := resp.GetProgress(); p != nil && p.GetPhase() == pb.BootPhase_BOOT_PHASE_BREAKPOINTS_ARMED {
				break
			}
			if resp.GetStatus() != nil {
				t.Log("the boot ended before frostd was killed; the guard lets go of the attached VM all the same")
				break
			}
		}
		killAndWantLetGo(ctx, t, fd, d, state, 0)
	}))

	must(t.Run("SIGKILL while a client holds the guest at a breakpoint", func(t *testing.T) {
		fd := start("frostd-hold.log")
		attach(ctx, t, fd.cc, vm)
		c := startHoldingClient(t, fd.sock, vm)
		n := d.writes(t)
		wantPaused(ctx, t, d, "while a client holds it")
		killAndWantLetGo(ctx, t, fd, d, state, n)
		c.kill()
	}))

	t.Run("SIGKILL during a paused dump", func(t *testing.T) {
		fd := start("frostd-dump.log")
		attach(ctx, t, fd.cc, vm)
		c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: vm, home: t.TempDir()}
		// frostctl writes the image into a pipe nobody reads: the dump
		// stalls with the guest held, as a slow disk would.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cmd := c.command("dump", "--via", "stream", "-q", "-o", "-")
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		n := d.writes(t)
		wantPaused(ctx, t, d, "during the dump")
		killAndWantLetGo(ctx, t, fd, d, state, n)
	})

	// What Boot records before it starts a domain paused: a frostd that
	// dies before it attaches leaves the domain `paused (user)` in
	// libvirt, and the guard resumes it through its own connection.
	t.Run("a domain left paused is resumed", func(t *testing.T) {
		if err := d.dom.Suspend(ctx); err != nil {
			t.Fatal(err)
		}
		wantPaused(ctx, t, d, "suspended")
		n := d.writes(t)
		c, err := guard.Dial(ctx, filepath.Join(dir, guardSocketName))
		if err != nil {
			t.Fatalf("the guard is gone: %v", err)
		}
		if _, err := c.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Tell(session.Holds{Paused: []string{vm}}); err != nil {
			t.Fatal(err)
		}
		dropped := time.Now()
		c.Close() // as frostd's death closes it
		took, ok := waitQMPRunning(ctx, d.dom)
		if !ok {
			t.Fatal("the paused domain was not resumed")
		}
		t.Logf("paused domain running again %v after the connection dropped", took.Sub(dropped).Round(time.Millisecond))
		d.waitMoreWrites(t, n)
	})

	// Without the guard (the control): the guest stays stopped in
	// `debug`. A successor whose state file is corrupt keeps it aside,
	// finds the VM by the gdbstub Frost left in it, and lets it go.
	t.Run("no guard, corrupt state file: the successor finds the VM", func(t *testing.T) {
		// A clean stop says bye, and the guard frostd started then exits:
		// no guard is left to let go of anything.
		fd := start("frostd-noguard.log")
		fd.stop(t)
		fd = startFrostd(t, bin, dir, guestDir, "frostd-noguard-2.log", "--no-guard")
		logs = append(logs, fd)
		attach(ctx, t, fd.cc, vm)
		c := startHoldingClient(t, fd.sock, vm)
		n := d.writes(t)
		wantPaused(ctx, t, d, "while a client holds it")
		if err := fd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-fd.done
		c.kill()
		if st, _ := qmpStatus(ctx, d.dom); st != "debug" {
			t.Errorf("without a guard, QMP status %q after frostd's SIGKILL, want debug", st)
		}
		if err := os.WriteFile(state, []byte(`{"pid": 1, "vms": ["`), 0o600); err != nil {
			t.Fatal(err)
		}
		fd2 := startFrostd(t, bin, dir, guestDir, "frostd-corrupt.log", "--no-guard")
		logs = append(logs, fd2)
		d.waitMoreWrites(t, n)
		out := fd2.output()
		if !strings.Contains(out, "CRASH RECORD CORRUPT") || !strings.Contains(out, vm+": recovered") {
			t.Errorf("the successor did not say it found and recovered %s:\n%s", vm, out)
		}
		if kept, _ := filepath.Glob(state + ".corrupt-*"); len(kept) != 1 {
			t.Errorf("corrupt copies kept: %v", kept)
		}
	})
}

// killAndWantLetGo SIGKILLs fd and, with no frostd running, waits for the
// guard to let the guest go: QMP status running (the time it took is
// logged), writer.exe writing again and again (no breakpoint stops it),
// and the state file without the VM.
func killAndWantLetGo(ctx context.Context, t *testing.T, fd *frostdProc, d *testDomain, state string, n int) {
	t.Helper()
	killed := time.Now()
	if err := fd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-fd.done
	took, ok := waitQMPRunning(ctx, d.dom)
	if !ok {
		t.Fatalf("the guest is not running %v after frostd's SIGKILL", guestWait)
	}
	t.Logf("guest running again %v after frostd's SIGKILL (QMP query-status)", took.Sub(killed).Round(time.Millisecond))
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(state), "guard.log")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "guard recovery") && strings.Contains(line, "time="+killed.UTC().Format("2006-01-02T15:04")) {
				t.Logf("guard: %s", line)
			}
		}
	}
	d.waitMoreWrites(t, n)
	// Three writes more: each runs NtWriteFile, where a breakpoint left
	// in would stop the guest for good.
	d.waitMoreWrites(t, d.writes(t)+2)
	if st, ok := qmpStatus(ctx, d.dom); st != "running" || !ok {
		t.Errorf("QMP status %q after the guard let go", st)
	}
	deadline := time.Now().Add(guestWait)
	for {
		held := stateFileVMs(t, state)
		if len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the state file still lists %v after the guard let go", held)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := fd.output(); strings.Contains(out, "panic") {
		t.Errorf("frostd's log has a panic:\n%s", out)
	}
}

// waitQMPRunning polls QEMU's own run state until it is running and
// returns when it saw it.
func waitQMPRunning(ctx context.Context, dom *libvirt.Domain) (time.Time, bool) {
	deadline := time.Now().Add(guestWait)
	for time.Now().Before(deadline) {
		if st, ok := qmpStatus(ctx, dom); ok && st == "running" {
			return time.Now(), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false
}

func qmpStatus(ctx context.Context, dom *libvirt.Domain) (string, bool) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var st struct {
		Status string `json:"status"`
	}
	if err := dom.QMP().Execute(qctx, "query-status", nil, &st); err != nil {
		return "", false
	}
	return st.Status, true
}
