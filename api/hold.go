package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// defaultHoldMax bounds a Hold whose client named no maximum.
const defaultHoldMax = 10 * time.Minute

// Hold is the stream form of hold: the guest stays stopped until the
// client says so, leaves, or the maximum passes.
func (s *cpuService) Hold(stream pb.CPUService_HoldServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	vm, err := s.c.get(first.GetVm())
	if err != nil {
		return err
	}
	maxDur := defaultHoldMax
	if d := first.GetMaxDuration(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
			return invalid("max_duration", "must be positive")
		}
		maxDur = d.AsDuration()
	}
	pctx, cancel := context.WithTimeout(ctx, session.HoldTimeout)
	h, err := vm.Hold(pctx)
	cancel()
	if err != nil {
		return targetError(vm.Name, "holding", err)
	}
	// From here the guest is stopped: whatever happens, it is released.
	ended := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		ended <- err
	}()
	expired := false
	if err := stream.Send(&pb.HoldResponse{Stop: stopInfo(h.Stop, time.Now()), WasRunning: h.WasRunning}); err == nil {
		timer := time.NewTimer(maxDur)
		select {
		case <-ended:
		case <-ctx.Done():
		case <-timer.C:
			expired = true
		}
		timer.Stop()
	}
	rerr := h.Release(context.WithoutCancel(ctx))
	if rerr != nil {
		s.c.Log.Error("releasing a hold", "vm", vm.Name, "was_running", h.WasRunning, "error", rerr)
	}
	if expired {
		s.c.Log.Warn("a hold reached its maximum and was released", "vm", vm.Name, "max", maxDur)
	}
	last := &pb.HoldResponse{Released: rerr == nil, Expired: expired}
	if rerr != nil {
		last.ReleaseError = rerr.Error()
	}
	if ctx.Err() != nil {
		return nil // the client left; the guest is as it was
	}
	if err := stream.Send(last); err != nil {
		return err
	}
	if rerr != nil {
		return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			fmt.Sprintf("releasing the hold of %s: %v", vm.Name, rerr), "vm", vm.Name)
	}
	return nil
}
