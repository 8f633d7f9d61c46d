package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// Work that needs a still guest for a while (a consistent dump, finding
// the kernel) stops it and must then leave it exactly as it was: running
// if it ran, stopped if it was stopped at a breakpoint, by an operator's
// Pause, or by someone outside Frost. hold does the stopping and returns
// the matching release.

// held is one hold: the stop the guest is in, whether the hold stopped a
// running guest, and how to let it go.
type held struct {
	stop       *vmi.Stop
	wasRunning bool
	release    func(ctx context.Context) error
}

// holdTimeout bounds the pause and the release when the caller's context
// has no earlier deadline (a release runs after the caller has gone).
const holdTimeout = 30 * time.Second

// hold stops the guest through whoever owns its run state (the breakpoint
// manager once there is one, else the Target).
func (vm *VM) hold(ctx context.Context) (*held, error) {
	// Whether the guest ran is read from the stop the pause returns, not
	// from a look before it: a guest resumed from outside a moment ago
	// still looks stopped until the Target hears of it, and the Target's
	// Pause asks QEMU first. A newer stop than the one seen before means
	// the pause (or a breakpoint racing it) stopped a running guest.
	running, before := vm.Target.Running()
	after := func(stop *vmi.Stop) bool { return stoppedARunningGuest(running, before, stop) }
	if mgr := vm.existingManager(); mgr != nil {
		stop, wasHeld, err := mgr.PauseHeld(ctx)
		if err != nil {
			return nil, err
		}
		h := &held{stop: stop, wasRunning: after(stop)}
		h.release = func(ctx context.Context) error {
			if wasHeld {
				return nil // another Pause holds it; its Resume lets it go
			}
			return mgr.Release(ctx, h.wasRunning)
		}
		return h, nil
	}
	stop, err := vm.Target.Pause(ctx)
	if err != nil {
		return nil, err
	}
	h := &held{stop: stop, wasRunning: after(stop)}
	h.release = func(ctx context.Context) error {
		if !h.wasRunning {
			return nil
		}
		return vm.Target.Resume(ctx)
	}
	return h, nil
}

// stoppedARunningGuest says whether a pause that returned stop stopped a
// running guest, given what Running said before it.
func stoppedARunningGuest(running bool, before, stop *vmi.Stop) bool {
	switch {
	case stop == nil:
		return false
	case running:
		return true
	case before == nil:
		return false // stopped, but its stop not read yet: never resume it
	}
	return stop.Seq > before.Seq
}

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
	vm, err := s.c.Registry.Get(first.GetVm())
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
	pctx, cancel := context.WithTimeout(ctx, holdTimeout)
	h, err := vm.hold(pctx)
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
	if err := stream.Send(&pb.HoldResponse{Stop: stopInfo(h.stop, time.Now()), WasRunning: h.wasRunning}); err == nil {
		timer := time.NewTimer(maxDur)
		select {
		case <-ended:
		case <-ctx.Done():
		case <-timer.C:
			expired = true
		}
		timer.Stop()
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), holdTimeout)
	rerr := h.release(rctx)
	rcancel()
	if rerr != nil {
		s.c.Log.Error("releasing a hold", "vm", vm.Name, "was_running", h.wasRunning, "error", rerr)
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
