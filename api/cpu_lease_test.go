package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// Pause through the API: a lease is granted (30 s unless asked), renewed
// by its id, refused past the maximum, and a lapsed one cannot be renewed
// (HOLD_EXPIRED): the guest ran meanwhile.
func TestPauseLeaseAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := vmitest.New(vmitest.Config{Name: "g", Running: true})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	addVM(t, c, "g", tg)
	cpu := &cpuService{c: c}

	r, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: "g"})
	if err != nil || r.GetLeaseId() == "" || r.GetLease().AsDuration() != 30*time.Second || !r.GetWasRunning() {
		t.Fatalf("Pause = %v, %v", r, err)
	}
	rn, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: "g", LeaseId: r.GetLeaseId(), Lease: durationpb.New(20 * time.Millisecond)})
	if err != nil || rn.GetLeaseId() != r.GetLeaseId() || rn.GetLease().AsDuration() != 20*time.Millisecond {
		t.Fatalf("renewal = %v, %v", rn, err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the renewed lease never lapsed: %v", err)
	}
	// The lapse forgets the lease before it resumes the guest.
	_, err = cpu.Pause(ctx, &pb.PauseRequest{Vm: "g", LeaseId: r.GetLeaseId()})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "lapsed") {
		t.Errorf("renewing a lapsed lease: %v, want FailedPrecondition", err)
	}
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: "g", Lease: durationpb.New(time.Hour)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("an hour's lease: %v, want InvalidArgument", err)
	}
}
