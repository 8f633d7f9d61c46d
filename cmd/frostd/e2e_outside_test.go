package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"google.golang.org/grpc"
)

// checkOutsidePause runs what an operator does beside Frost: virsh suspend
// and resume, and virsh dump (which pauses and resumes), on the attached
// VM. Frost reports the outside pause as such, follows the resume, and no
// Frost call afterwards leaves the guest stopped: the guest's serial
// advances after each one. Frost's own pause then still pauses it.
func checkOutsidePause(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain) {
	t.Helper()
	vms := pb.NewVMServiceClient(cc)
	cpu := pb.NewCPUServiceClient(cc)
	virsh := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(ctx, "virsh", append([]string{"-c", "qemu:///system"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("virsh %v: %v\n%s", args, err, out)
		}
	}
	state := func() *pb.VM {
		t.Helper()
		r, err := vms.GetVM(ctx, &pb.GetVMRequest{Vm: d.name})
		if err != nil {
			t.Fatalf("GetVM: %v", err)
		}
		return r.GetVm()
	}
	// waitState polls GetVM until cond holds: QEMU's events reach Frost on
	// their own schedule.
	waitState := func(what string, cond func(*pb.VM) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			vm := state()
			if cond(vm) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Frost never reported %s; last state: %v", what, vm)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	outsidePause := func(vm *pb.VM) bool {
		return !vm.GetRunning() && vm.GetStop().GetReason() == pb.StopReason_STOP_REASON_OUTSIDE_PAUSE
	}

	d.waitMoreWrites(t, d.writes(t))
	virsh("suspend", d.name)
	waitState("an outside pause", outsidePause)
	virsh("resume", d.name)
	waitState("the guest running again", (*pb.VM).GetRunning)
	n := d.writes(t)
	state()
	d.waitMoreWrites(t, n)
	n = d.writes(t)
	if _, err := cpu.GetRegisters(ctx, &pb.GetRegistersRequest{Vm: d.name}); err == nil {
		t.Error("GetRegisters of a running guest succeeded; want it refused")
	}
	d.waitMoreWrites(t, n)

	// Back to back, and a Frost call at once: whichever reaches QEMU
	// first, the guest runs on.
	virsh("suspend", d.name)
	virsh("resume", d.name)
	n = d.writes(t)
	cpu.GetRegisters(ctx, &pb.GetRegistersRequest{Vm: d.name})
	state()
	d.waitMoreWrites(t, n)

	// virsh dump pauses the guest for the dump and resumes it.
	virsh("dump", "--memory-only", d.name, filepath.Join(t.TempDir(), "core"))
	waitState("the guest running after virsh dump", (*pb.VM).GetRunning)
	n = d.writes(t)
	state()
	d.waitMoreWrites(t, n)

	// Frost's own pause pauses; its resume resumes.
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: d.name}); err != nil {
		t.Fatal(err)
	}
	wantPaused(ctx, t, d, "after Frost's pause")
	if vm := state(); vm.GetRunning() || vm.GetStop().GetReason() != pb.StopReason_STOP_REASON_PAUSE {
		t.Errorf("after Frost's pause: %v", vm)
	}
	n = d.writes(t)
	if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: d.name}); err != nil {
		t.Fatal(err)
	}
	d.waitMoreWrites(t, n)
}
