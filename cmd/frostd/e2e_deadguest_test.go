package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestDeadGuestIsGone (issue 19): QEMU is SIGKILLed under an attached VM.
// Reads then fail with "guest is gone (QEMU exited)" instead of serving
// the last RAM as live, a post-mortem read is flagged as one, detach
// succeeds without claiming a running guest, and after `virsh start` the
// same name attaches again and reads live memory.
func TestDeadGuestIsGone(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
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
	mem := pb.NewMemoryServiceClient(fd.cc)
	attach(ctx, t, fd.cc, d.name)
	read := &pb.ReadPhysicalRequest{Vm: d.name, Address: 0x1000, Length: 4096}
	if r, err := mem.ReadPhysical(ctx, read); err != nil || r.GetPostMortem() {
		t.Fatalf("a live read: post-mortem %v, %v", r.GetPostMortem(), err)
	}

	pid, err := d.dom.PID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(guestWait)
	for {
		_, err := mem.ReadPhysical(ctx, read)
		if status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "guest is gone (QEMU exited)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after QEMU was killed, ReadPhysical still answers %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The RAM file may or may not outlive QEMU under libvirt: either way
	// nothing comes back unflagged.
	read.PostMortem = true
	if r, err := mem.ReadPhysical(ctx, read); err == nil && !r.GetPostMortem() {
		t.Error("a post-mortem read of a gone guest came back without the flag")
	} else {
		t.Logf("post-mortem read: flagged %v, %v", r.GetPostMortem(), err)
	}
	if _, err := pb.NewCPUServiceClient(fd.cc).Pause(ctx, &pb.PauseRequest{Vm: d.name}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "gone") {
		t.Errorf("Pause of a gone guest: %v", err)
	}
	if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
		t.Errorf("Detach of a gone guest: %v", err)
	}

	// The domain runs again: the name attaches again, reads are live.
	if err := d.dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	d.waitMoreWrites(t, len(d.report(t).All("write")))
	attach(ctx, t, fd.cc, d.name)
	read.PostMortem = false
	if r, err := mem.ReadPhysical(ctx, read); err != nil || r.GetPostMortem() {
		t.Errorf("a read after re-attach: post-mortem %v, %v", r.GetPostMortem(), err)
	}

	// Killed while attached again, and attached again without a detach:
	// the gone session is replaced.
	pid, err = d.dom.PID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := mem.ReadPhysical(ctx, read)
		if status.Code(err) == codes.FailedPrecondition && strings.Contains(err.Error(), "guest is gone") {
			break
		}
		if time.Now().After(deadline.Add(guestWait)) {
			t.Fatalf("after the second kill, ReadPhysical still answers %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	d.waitMoreWrites(t, 0)
	attach(ctx, t, fd.cc, d.name)
	if _, err := mem.ReadPhysical(ctx, read); err != nil {
		t.Errorf("a read after attaching over a gone session: %v", err)
	}
}
