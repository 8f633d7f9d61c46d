package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// TestEndToEndOnLibvirt is issue 8's checks: a real frostd binary, a real
// libvirtd, mini-NT under TCG, and only the gRPC API between the test and
// the guest. One domain serves every check (boots are the expensive part
// on 2 cores); the order follows the guest's life: boot with winboot, the
// checks on the VM Boot left attached, detach and attach by name, the
// read-only checks, a killed client, a killed frostd and its successor
// with --allow-write.
func TestEndToEndOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	// Generous: the TCG lock may be held by other test boots first.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	dir := t.TempDir()
	// No guard: this test's last part checks a successor's recovery from
	// the state file, which a guard would have made moot (the guard has
	// its own test, TestGuardLetsGoOnLibvirt).
	fd := startFrostd(t, bin, dir, guestDir, "frostd-1.log", "--no-guard")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	vm := d.name
	must := func(ok bool) {
		if !ok {
			t.FailNow()
		}
	}

	must(t.Run("boot with winboot", func(t *testing.T) {
		checkBootStatus(t, d, bootWithWinboot(ctx, t, fd.cc, d))
	}))
	pids := guestPIDs(t, d)
	t.Run("guest clock and version", func(t *testing.T) { checkGuestClock(ctx, t, fd.cc, d) })
	// The VM Boot left attached: its breakpoint manager is winboot's.
	t.Run("breakpoint stream after boot", func(t *testing.T) {
		checkBreakpointStream(ctx, t, fd.cc, vm, pids["writer.exe"], false)
		checkBreakpointStream(ctx, t, fd.cc, vm, pids["writer.exe"], true)
	})
	t.Run("NtWriteFile monitor after boot", func(t *testing.T) {
		checkMonitor(ctx, t, fd.cc, vm, pids["writer.exe"])
	})
	must(t.Run("detach and attach by name", func(t *testing.T) {
		checkReattach(ctx, t, fd.cc, d)
	}))
	t.Run("outside pause and resume", func(t *testing.T) { checkOutsidePause(ctx, t, fd.cc, d) })
	t.Run("ps", func(t *testing.T) { checkPS(ctx, t, fd.cc, vm, pids) })
	t.Run("python client", func(t *testing.T) { checkPythonClient(t, fd.sock, vm) })
	t.Run("read and vtop", func(t *testing.T) { checkReadAndVtop(ctx, t, fd.cc, d, vm, pids["swapper.exe"]) })
	t.Run("unknown symbol", func(t *testing.T) { checkUnknownSymbol(ctx, t, fd.cc, vm) })
	t.Run("breakpoint kinds", func(t *testing.T) { checkBreakpointKinds(ctx, t, fd.cc, vm) })
	t.Run("breakpoint stream", func(t *testing.T) {
		checkBreakpointStream(ctx, t, fd.cc, vm, pids["writer.exe"], false)
		checkBreakpointStream(ctx, t, fd.cc, vm, pids["writer.exe"], true)
	})
	t.Run("NtWriteFile monitor", func(t *testing.T) { checkMonitor(ctx, t, fd.cc, vm, pids["writer.exe"]) })
	t.Run("writes without --allow-write", func(t *testing.T) { checkWritesDenied(ctx, t, fd.cc, vm, pids["swapper.exe"]) })

	t.Run("client killed while holding", func(t *testing.T) {
		c := startHoldingClient(t, fd.sock, vm)
		n := d.writes(t)
		wantPaused(ctx, t, d, "while a client holds it")
		c.kill()
		d.waitMoreWrites(t, n)
		waitNoBreakpoints(ctx, t, fd.cc, vm)
	})

	var n int
	must(t.Run("frostd killed while holding", func(t *testing.T) {
		c := startHoldingClient(t, fd.sock, vm)
		n = d.writes(t)
		fd.kill(t)
		c.kill()
		// The stub keeps the vCPUs stopped when its client dies: held, the
		// guest stays stopped until someone lets it go.
		wantPaused(ctx, t, d, "after frostd died holding it")
		if held := stateFileVMs(t, filepath.Join(dir, "state.json")); len(held) != 1 || held[0] != vm {
			t.Errorf("the dead frostd's state file lists %v, want [%s]", held, vm)
		}
	}))
	// The successor, on the same state file; it lives to the test's end.
	fd2 := startFrostd(t, bin, dir, guestDir, "frostd-2.log", "--allow-write")
	defer func() {
		if t.Failed() {
			t.Logf("second frostd's log:\n%s", fd2.output())
		}
	}()
	t.Run("crash recovery lets the guest go", func(t *testing.T) {
		d.waitMoreWrites(t, n)
		if out := fd2.output(); !strings.Contains(out, "crash recovery") || !strings.Contains(out, vm+": recovered") {
			t.Errorf("the new frostd did not report recovering %s:\n%s", vm, out)
		}
		if held := stateFileVMs(t, filepath.Join(dir, "state.json")); len(held) != 0 {
			t.Errorf("the state file still lists %v after recovery", held)
		}
	})

	t.Run("writes with --allow-write", func(t *testing.T) {
		attach(ctx, t, fd2.cc, vm)
		checkWrites(ctx, t, fd2.cc, d, vm, pids["swapper.exe"])
	})

	// SIGTERM while a client holds the guest: shutdown lets the guest go
	// first (every breakpoint removed, resumed, detached), then the
	// server stops.
	t.Run("shutdown lets a held guest go", func(t *testing.T) {
		c := startHoldingClient(t, fd2.sock, vm)
		n := d.writes(t)
		wantPaused(ctx, t, d, "while a client holds it")
		if err := fd2.stop(t); err != nil {
			t.Errorf("frostd exited with %v:\n%s", err, fd2.output())
		}
		if held := stateFileVMs(t, filepath.Join(dir, "state.json")); len(held) != 0 {
			t.Errorf("state file after a clean shutdown lists %v", held)
		}
		c.kill()
		d.waitMoreWrites(t, n)
		if st, err := d.dom.State(ctx); err != nil || st != libvirt.StateRunning {
			t.Errorf("after frostd's shutdown the domain is %v (%v), want running", st, err)
		}
	})
}

// wantPaused checks that libvirt sees the guest stopped: the stub stops
// every vCPU at a held hit, and libvirt hears QEMU's STOP event on its own
// schedule, so it is polled, within a bound well inside the hold deadline.
func wantPaused(ctx context.Context, t *testing.T, d *testDomain, when string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.dom.State(ctx)
		if err == nil && st == libvirt.StatePaused {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s, the domain is %v (%v), want paused", when, st, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkReattach detaches the VM Boot left attached (the guest runs on)
// and attaches it again by its domain name.
func checkReattach(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain) {
	t.Helper()
	vms := pb.NewVMServiceClient(cc)
	if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
		t.Fatal(err)
	}
	d.waitMoreWrites(t, d.writes(t))
	attach(ctx, t, cc, d.name)
	// libvirt learns of the resume from QEMU's event on its own schedule,
	// so its state is polled, as wantPaused does.
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := vms.ListDomains(ctx, &pb.ListDomainsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var dom *pb.Domain
		for _, x := range list.GetDomains() {
			if x.GetName() == d.name {
				dom = x
			}
		}
		if dom.GetAttached() && dom.GetState() == pb.DomainState_DOMAIN_STATE_RUNNING {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("ListDomains after attach: %v", dom)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.waitMoreWrites(t, d.writes(t))
}

// attach attaches a running domain by name; it stays running.
func attach(ctx context.Context, t *testing.T, cc *grpc.ClientConn, name string) {
	t.Helper()
	resp, err := pb.NewVMServiceClient(cc).Attach(ctx, &pb.AttachRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	// libvirt's domain keeps guest RAM in a shared file (memory_backing_dir).
	if v := resp.GetVm(); v.GetDomain().GetName() != name || !v.GetRunning() || v.GetMemoryBackend() != "shared-file" {
		t.Errorf("Attach(%s): %v", name, v)
	}
}

func stateFileVMs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ VMs []string }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.VMs
}
