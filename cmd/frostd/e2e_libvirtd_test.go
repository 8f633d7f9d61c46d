package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestLibvirtdRestart (issue 19): libvirtd is stopped and started again
// under a running frostd. Meanwhile the VM calls answer Unavailable
// "libvirtd unavailable, reconnecting" (not Internal with a dead socket's
// error) and health says NOT_SERVING for the VM services; once libvirtd is
// back, frostd has reconnected on its own and lists domains again, and a
// VM attached before the restart still follows an outside pause and
// resume (libvirt's events and QMP passthrough on the new connection).
func TestLibvirtdRestart(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	// The TCG lock (defineDomain's) also keeps other tests' guests, and
	// their libvirt calls, out of the restart.
	d := defineDomain(ctx, t, conn, guestDir)
	if err := d.dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	d.waitMoreWrites(t, 0)
	fd := startFrostd(t, bin, t.TempDir(), guestDir, "frostd.log")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	vms := pb.NewVMServiceClient(fd.cc)
	hc := healthpb.NewHealthClient(fd.cc)
	vmHealth := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: pb.VMService_ServiceDesc.ServiceName})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetStatus()
	}
	if _, err := vms.ListDomains(ctx, &pb.ListDomainsRequest{}); err != nil {
		t.Fatalf("ListDomains before the restart: %v", err)
	}
	attach(ctx, t, fd.cc, d.name)

	pidText, err := os.ReadFile("/var/run/libvirtd.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Whatever happens below, libvirtd runs again for the tests after.
	t.Cleanup(func() { setupLibvirtAgain(t) })
	deadline := time.Now().Add(guestWait)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("libvirtd did not stop on SIGTERM")
		}
		time.Sleep(100 * time.Millisecond)
	}

	for {
		_, err := vms.ListDomains(ctx, &pb.ListDomainsRequest{})
		if status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "libvirtd unavailable, reconnecting") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListDomains with libvirtd away: %v, want Unavailable \"libvirtd unavailable, reconnecting\"", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := vms.Attach(ctx, &pb.AttachRequest{Name: "frost-test-none"}); status.Code(err) != codes.Unavailable {
		t.Errorf("Attach with libvirtd away: %v, want Unavailable", err)
	}
	if st := vmHealth(); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("VMService health with libvirtd away: %v, want NOT_SERVING", st)
	}

	setupLibvirtAgain(t)
	for {
		_, err := vms.ListDomains(ctx, &pb.ListDomainsRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListDomains after libvirtd came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := vmHealth(); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("VMService health after libvirtd came back: %v, want SERVING", st)
	}
	if out := fd.output(); !strings.Contains(out, "libvirtd connected again") {
		t.Errorf("frostd's log does not say it reconnected:\n%s", out)
	}
	checkOutsidePause(ctx, t, fd.cc, d)
	if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
		t.Errorf("Detach after the restart: %v", err)
	}
}

// setupLibvirtAgain starts libvirtd again (the project's setup script is
// idempotent: a running one is left alone).
func setupLibvirtAgain(t *testing.T) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "setup-libvirt.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guestWait)
	defer cancel()
	if out, err := exec.CommandContext(ctx, script).CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", script, err, out)
	}
}
