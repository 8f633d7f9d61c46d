package main

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// TestBootOutlivesItsClient: Boot is frostd's. A client that leaves (^C)
// at any phase, from the first message (before libvirt has created the
// domain) to the last, only stops watching: the boot runs to its end, the
// guest reaches ready configured (no paging file, WinPE mode set), and the
// report is readable afterwards through WatchBoot.
func TestBootOutlivesItsClient(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	fd := startFrostd(t, bin, t.TempDir(), guestDir, "frostd.log")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	for _, leaveAt := range []pb.BootPhase{
		pb.BootPhase_BOOT_PHASE_ACCEPTED,
		pb.BootPhase_BOOT_PHASE_STARTING,
		pb.BootPhase_BOOT_PHASE_ATTACHED,
		pb.BootPhase_BOOT_PHASE_WAITING_FOR_KERNEL,
		pb.BootPhase_BOOT_PHASE_KERNEL_FOUND,
		pb.BootPhase_BOOT_PHASE_WINPE_MODE_SET,
		pb.BootPhase_BOOT_PHASE_BREAKPOINTS_ARMED,
		pb.BootPhase_BOOT_PHASE_PAGING_FILE_REFUSED,
		pb.BootPhase_BOOT_PHASE_WINPE_MODE_VERIFIED,
		pb.BootPhase_BOOT_PHASE_SESSION_MANAGER_DONE,
	} {
		ok := t.Run(leaveAt.String(), func(t *testing.T) {
			left := bootAndLeave(ctx, t, fd.cc, d, leaveAt)
			if !left {
				t.Logf("the boot ended before phase %v was sent; the client watched it all", leaveAt)
			}
			st := watchBoot(ctx, t, fd.cc, d.name)
			if st.GetName() != d.name || st.GetStarted() == nil || st.GetFinished() == nil || !st.GetWinboot() {
				t.Errorf("WatchBoot's status names %q, started %v, finished %v, winboot %v",
					st.GetName(), st.GetStarted(), st.GetFinished(), st.GetWinboot())
			}
			checkBootStatus(t, d, st)
			shutOff(ctx, t, fd.cc, d)
		})
		if !ok {
			break
		}
	}
}

// bootAndLeave boots d with winboot and leaves when phase arrives; false
// when the status came first.
func bootAndLeave(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain, phase pb.BootPhase) bool {
	t.Helper()
	cctx, leave := context.WithCancel(ctx)
	defer leave()
	stream, err := pb.NewBootServiceClient(cc).Boot(cctx, &pb.BootRequest{
		Name: d.name, Winboot: true, Deadline: durationpb.New(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Boot before leaving at %v: %v", phase, err)
		}
		if resp.GetStatus() != nil {
			return false
		}
		if resp.GetProgress().GetPhase() == phase {
			leave()
			return true
		}
	}
}

// watchBoot follows the domain's latest boot to its status.
func watchBoot(ctx context.Context, t *testing.T, cc *grpc.ClientConn, name string) *pb.BootStatus {
	t.Helper()
	stream, err := pb.NewBootServiceClient(cc).WatchBoot(ctx, &pb.WatchBootRequest{Name: name, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	var accepted bool
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			t.Fatal("WatchBoot ended without the boot's status")
		}
		if err != nil {
			t.Fatalf("WatchBoot: %v", err)
		}
		if resp.GetProgress().GetPhase() == pb.BootPhase_BOOT_PHASE_ACCEPTED {
			accepted = true
		}
		if st := resp.GetStatus(); st != nil {
			if !accepted {
				t.Error("WatchBoot's replay lacks the first message (ACCEPTED)")
			}
			return st
		}
	}
}

// shutOff detaches the domain and destroys it, for the next boot.
func shutOff(ctx context.Context, t *testing.T, cc *grpc.ClientConn, d *testDomain) {
	t.Helper()
	if _, err := pb.NewVMServiceClient(cc).Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
		t.Fatalf("detach: %v", err)
	}
	if err := d.dom.Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if st, err := d.dom.State(ctx); err != nil || st != libvirt.StateShutoff {
		t.Fatalf("after destroy the domain is %v (%v)", st, err)
	}
}
