package api

import (
	"context"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// Hold bounds: a client may hold the guest at a hit only this long, so a
// dead or slow client never freezes it.
const (
	defaultHold = 2 * time.Second
	maxHold     = 30 * time.Second
)

type breakpointService struct {
	pb.UnimplementedBreakpointServiceServer
	c *Config
}

// subscription is one Subscribe stream: its manager subscription, and the
// held hits' staged edits until their ack.
type subscription struct {
	sub   *breakpoints.Subscription
	mu    sync.Mutex
	edits map[uint64]*breakpoints.Edits
}

func (s *breakpointService) SetBreakpoint(ctx context.Context, req *pb.SetBreakpointRequest) (*pb.SetBreakpointResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return nil, err
	}
	mgr := vm.Manager()
	spec, out, err := managerSpec(vm.Name, k, req.GetSpec(), "api")
	if err != nil {
		return nil, err
	}
	bp, err := arm(ctx, vm, s.c.bps.state(vm), mgr, spec, out, 0)
	if err != nil {
		return nil, err
	}
	return &pb.SetBreakpointResponse{Breakpoint: bp}, nil
}

func (s *breakpointService) ClearBreakpoint(ctx context.Context, req *pb.ClearBreakpointRequest) (*pb.ClearBreakpointResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	id := breakpoints.ID(req.GetId())
	st := s.c.bps.state(vm)
	st.mu.Lock()
	bp := st.set[id]
	st.mu.Unlock()
	mgr := vm.Manager()
	// Only breakpoints the API armed are the client's to clear: winboot's
	// and the monitors' are not.
	if bp == nil {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_BREAKPOINT_NOT_FOUND,
			"no breakpoint "+uitoa(req.GetId())+" set through the API in "+vm.Name, "vm", vm.Name)
	}
	if err := mgr.Remove(ctx, id); err != nil {
		return nil, targetError(vm.Name, "removing a breakpoint from", err)
	}
	st.mu.Lock()
	delete(st.set, id)
	st.mu.Unlock()
	return &pb.ClearBreakpointResponse{}, nil
}

func (s *breakpointService) ListBreakpoints(ctx context.Context, req *pb.ListBreakpointsRequest) (*pb.ListBreakpointsResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	resp := &pb.ListBreakpointsResponse{}
	st := s.c.bps.state(vm)
	st.mu.Lock()
	for _, b := range st.set {
		// A copy: hit counts change under the lock while this is sent.
		resp.Breakpoints = append(resp.Breakpoints, proto.Clone(b.pb).(*pb.Breakpoint))
	}
	st.mu.Unlock()
	sort.Slice(resp.Breakpoints, func(i, j int) bool { return resp.Breakpoints[i].GetId() < resp.Breakpoints[j].GetId() })
	return resp, nil
}

func holdFor(req *pb.SubscribeRequest) time.Duration {
	if !req.GetHold() {
		return 0
	}
	d := req.GetHoldDeadline().AsDuration()
	if d <= 0 {
		d = defaultHold
	}
	return min(d, maxHold)
}

func (s *breakpointService) Subscribe(req *pb.SubscribeRequest, stream pb.BreakpointService_SubscribeServer) error {
	ctx := stream.Context()
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return err
	}
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return err
	}
	mgr := vm.Manager()
	st := s.c.bps.state(vm)
	st.mu.Lock()
	st.next++
	id := st.next
	st.mu.Unlock()

	// The stream's own breakpoints go when it does, however it ends.
	var owned []breakpoints.ID
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, bid := range owned {
			_ = mgr.Remove(rctx, bid)
			st.mu.Lock()
			delete(st.set, bid)
			st.mu.Unlock()
		}
	}()
	first := &pb.Subscribed{SubscriptionId: id}
	observers := make([]breakpoints.ID, 0, len(req.GetBreakpointIds()))
	for _, b := range req.GetBreakpointIds() {
		observers = append(observers, breakpoints.ID(b))
	}
	for _, spec := range req.GetBreakpoints() {
		ms, out, err := managerSpec(vm.Name, k, spec, "subscription "+uitoa(id))
		if err != nil {
			return err
		}
		bp, err := arm(ctx, vm, st, mgr, ms, out, id)
		if err != nil {
			return err
		}
		owned = append(owned, breakpoints.ID(bp.GetId()))
		observers = append(observers, breakpoints.ID(bp.GetId()))
		first.Breakpoints = append(first.Breakpoints, bp)
	}
	sub := &subscription{edits: map[uint64]*breakpoints.Edits{}}
	sub.sub = mgr.Subscribe(breakpoints.SubscribeOptions{
		Kinds: []breakpoints.EventKind{breakpoints.EventHit, breakpoints.EventReset, breakpoints.EventShutdown, breakpoints.EventGone,
			breakpoints.EventStop, breakpoints.EventResumed},
		Observers: observers,
		Hold:      holdFor(req),
	})
	defer sub.sub.Close() // releases whatever it still holds
	st.mu.Lock()
	st.subs[id] = sub
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		delete(st.subs, id)
		st.mu.Unlock()
	}()

	if err := stream.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_Subscribed{Subscribed: first}}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sub.sub.Events():
			if !ok {
				return nil
			}
			msg := s.event(ctx, vm, k, sub, ev, holdFor(req))
			if msg == nil {
				continue
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			if ev.Kind == breakpoints.EventGone {
				return nil
			}
		}
	}
}

func (s *breakpointService) Ack(ctx context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	if len(req.GetSetRegisters()) > 0 && !s.c.AllowWrite {
		return nil, writesDisabled("Ack with register edits")
	}
	st := s.c.bps.state(vm)
	st.mu.Lock()
	sub := st.subs[req.GetSubscriptionId()]
	st.mu.Unlock()
	if sub == nil {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
			"no subscription "+uitoa(req.GetSubscriptionId())+" in "+vm.Name, "field", "subscription_id")
	}
	sub.mu.Lock()
	edits := sub.edits[req.GetSequence()]
	sub.mu.Unlock()
	if edits == nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED,
			"hit "+uitoa(req.GetSequence())+" is not held (never, already acked, or its deadline passed)")
	}
	for _, r := range req.GetSetRegisters() {
		var err error
		if len(r.GetRaw()) > 0 {
			err = edits.SetRegisterBytes(r.GetName(), r.GetRaw())
		} else {
			err = edits.SetRegister(r.GetName(), r.GetValue())
		}
		if err != nil {
			// The hit stays held: the client may ack it again, corrected.
			return nil, invalid("set_registers", "%s: %v", r.GetName(), err)
		}
	}
	sub.mu.Lock()
	delete(sub.edits, req.GetSequence())
	sub.mu.Unlock()
	if err := sub.sub.Ack(req.GetSequence()); err != nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED, err.Error())
	}
	return &pb.AckResponse{}, nil
}

// event maps a manager event onto the stream; nil skips it.
func (s *breakpointService) event(ctx context.Context, vm *session.Session, k *nt.Opened, sub *subscription, ev breakpoints.Event, hold time.Duration) *pb.SubscribeResponse {
	switch ev.Kind {
	case breakpoints.EventHit:
		h := ev.Hit
		hit := &pb.BreakpointHit{
			Sequence: ev.Seq, Time: timestamppb.New(ev.Time), Cpu: cpuIndex(h.CPU), Address: h.Addr,
			Registers: registersPB(h.Regs), Held: ev.Held, Dropped: ev.Lost,
		}
		if len(ev.Observers) > 0 {
			hit.BreakpointId = uint64(ev.Observers[0])
		}
		st := s.c.bps.state(vm)
		st.mu.Lock()
		for _, id := range ev.Observers {
			if b := st.set[id]; b != nil {
				b.pb.Hits++
			}
		}
		st.mu.Unlock()
		hit.Symbol = describeKernel(k, h.Addr)
		s.identify(ctx, vm, h, ev.Held, hit)
		if ev.Held {
			hit.HoldUntil = timestamppb.New(ev.Time.Add(hold))
			sub.mu.Lock()
			sub.edits[ev.Seq] = ev.Edits
			sub.mu.Unlock()
		}
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_Hit{Hit: hit}}
	case breakpoints.EventStop:
		// Only an outside pause is news to a subscriber: the other stops
		// (an API Pause or Step) were asked for by a client.
		if ev.Stop == nil || !ev.Stop.Outside {
			return nil
		}
		reason := "paused outside Frost (virsh suspend, QMP stop or a dump)"
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_VmEvent{VmEvent: &pb.VMEvent{
			Kind: pb.VMEvent_KIND_PAUSED_OUTSIDE, Time: timestamppb.New(ev.Time), Reason: reason}}}
	case breakpoints.EventReset, breakpoints.EventShutdown, breakpoints.EventGone, breakpoints.EventResumed:
		out := &pb.VMEvent{Kind: vmEventKind(ev.Kind), Time: timestamppb.New(ev.Time), Reason: ev.Reason}
		if ev.Err != nil && out.Reason == "" {
			out.Reason = ev.Err.Error()
		}
		for _, id := range ev.Removed {
			out.DroppedBreakpointIds = append(out.DroppedBreakpointIds, uint64(id))
		}
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_VmEvent{VmEvent: out}}
	}
	return nil
}

func vmEventKind(k breakpoints.EventKind) pb.VMEvent_Kind {
	switch k {
	case breakpoints.EventReset:
		return pb.VMEvent_KIND_RESET
	case breakpoints.EventShutdown:
		return pb.VMEvent_KIND_SHUTDOWN
	case breakpoints.EventGone:
		return pb.VMEvent_KIND_GONE
	case breakpoints.EventResumed:
		return pb.VMEvent_KIND_RESUMED_OUTSIDE
	}
	return pb.VMEvent_KIND_UNSPECIFIED
}

// identify names the process and thread at a hit, best effort: the hit is
// worth delivering even when the kernel's structures cannot be read. The
// thread the manager named at the stop stays valid after the guest runs
// on; "who runs now" (KPCR) does not, so it is asked only while held.
func (s *breakpointService) identify(ctx context.Context, vm *session.Session, h *breakpoints.Hit, held bool, out *pb.BreakpointHit) {
	k, err := s.c.kernel(ctx, vm)
	if err != nil {
		return
	}
	var th nt.Thread
	switch {
	case h.ThreadKnown:
		if th, err = k.ThreadAt(h.Thread); err != nil {
			return
		}
	case held && h.Regs != nil:
		cur, err := k.Current(h.Regs)
		if err != nil {
			return
		}
		th = cur.Thread
	default:
		return
	}
	out.Tid, out.Pid = uint32(th.TID), uint32(th.PID)
	if p, err := k.ProcessByPID(th.PID); err == nil {
		out.ProcessName = p.Name
	}
}
