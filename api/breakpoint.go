package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
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

func (s *breakpointService) SetBreakpoint(ctx context.Context, req *pb.SetBreakpointRequest) (*pb.SetBreakpointResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	k, err := s.kernelFor(ctx, vm, req.GetSpec())
	if err != nil {
		return nil, err
	}
	spec, out, err := managerSpec(ctx, vm.Name, k, req.GetSpec(), "api")
	if err != nil {
		return nil, err
	}
	a, err := vm.Arm(ctx, spec, 0, out)
	if err != nil {
		return nil, bpError(vm.Name, err)
	}
	return &pb.SetBreakpointResponse{Breakpoint: armedPB(a)}, nil
}

func (s *breakpointService) ClearBreakpoint(ctx context.Context, req *pb.ClearBreakpointRequest) (*pb.ClearBreakpointResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	// Only breakpoints the API armed are the client's to clear: winboot's
	// and the monitors' are not.
	err = vm.Disarm(ctx, breakpoints.ID(req.GetId()))
	if errors.Is(err, session.ErrNotArmed) {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_BREAKPOINT_NOT_FOUND,
			"no breakpoint "+uitoa(req.GetId())+" set through the API in "+vm.Name, "vm", vm.Name)
	}
	if err != nil {
		return nil, targetError(vm.Name, "removing a breakpoint from", err)
	}
	return &pb.ClearBreakpointResponse{}, nil
}

func (s *breakpointService) ListBreakpoints(ctx context.Context, req *pb.ListBreakpointsRequest) (*pb.ListBreakpointsResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	resp := &pb.ListBreakpointsResponse{}
	for _, a := range vm.ArmedList() {
		resp.Breakpoints = append(resp.Breakpoints, armedPB(a))
	}
	return resp, nil
}

// kernelFor finds the VM's Windows kernel when one of specs needs it (a
// symbol, a process or thread filter, a user address named by a pid).
// A breakpoint at a raw address, filtered by DTB at most, needs none: it
// works on any guest. Otherwise the kernel is the one already found, or
// nil.
func (s *breakpointService) kernelFor(ctx context.Context, vm *session.Session, specs ...*pb.BreakpointSpec) (*nt.Opened, error) {
	for _, sp := range specs {
		if needsKernel(sp) {
			return s.c.kernel(ctx, vm)
		}
	}
	return vm.FoundKernel(), nil
}

func needsKernel(s *pb.BreakpointSpec) bool {
	f := s.GetFilter()
	if len(f.GetPids()) > 0 || len(f.GetProcessNames()) > 0 || len(f.GetTids()) > 0 {
		return true
	}
	switch loc := s.GetLocation().(type) {
	case *pb.BreakpointSpec_Symbol:
		return true
	case *pb.BreakpointSpec_Address:
		// A user address needs its address space: one DTB names it
		// without a kernel.
		return loc.Address < userTop && len(f.GetDtbs()) != 1
	}
	return false
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
	if err := checkRegisterSelection(req.GetRegisters()); err != nil {
		return err
	}
	k, err := s.kernelFor(ctx, vm, req.GetBreakpoints()...)
	if err != nil {
		return err
	}
	// The stream's own breakpoints go when it does, however it ends, and
	// whatever it holds is released.
	sub := vm.NewSubscription()
	defer sub.Close()
	id := sub.ID
	first := &pb.Subscribed{SubscriptionId: id}
	observers := make([]breakpoints.ID, 0, len(req.GetBreakpointIds()))
	for _, b := range req.GetBreakpointIds() {
		// An id that names no breakpoint would make a stream that
		// never delivers anything.
		if _, err := vm.Manager().Lookup(ctx, breakpoints.ID(b)); errors.Is(err, breakpoints.ErrUnknown) {
			return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_BREAKPOINT_NOT_FOUND,
				"no breakpoint "+uitoa(b)+" in "+vm.Name, "vm", vm.Name, "breakpoint_id", uitoa(b))
		} else if err != nil {
			return targetError(vm.Name, "looking up breakpoints in", err)
		}
		observers = append(observers, breakpoints.ID(b))
	}
	for _, spec := range req.GetBreakpoints() {
		ms, out, err := managerSpec(ctx, vm.Name, k, spec, "subscription "+uitoa(id))
		if err != nil {
			return err
		}
		a, err := sub.Arm(ctx, ms, out)
		if err != nil {
			return bpError(vm.Name, err)
		}
		observers = append(observers, a.ID)
		first.Breakpoints = append(first.Breakpoints, armedPB(a))
	}
	// A stack is unwound while the guest waits at the hit: a subscriber
	// that asks for stacks holds each hit for that long, and the hold
	// ends with the stack unless it asked to hold too.
	hold := holdFor(req)
	if req.GetStack() && hold == 0 {
		hold = stackHold
	}
	events := sub.Start(breakpoints.SubscribeOptions{
		Kinds: []breakpoints.EventKind{breakpoints.EventHit, breakpoints.EventReset, breakpoints.EventShutdown, breakpoints.EventGone,
			breakpoints.EventStop, breakpoints.EventResumed},
		Observers: observers,
		Hold:      hold,
	})

	if err := stream.Send(&pb.SubscribeResponse{Event: &pb.SubscribeResponse_Subscribed{Subscribed: first}}); err != nil {
		return err
	}
	ids := nt.NewThreadIdentities(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			msg, err := s.event(ctx, vm, k, sub, ids, ev, req)
			if err != nil {
				return err
			}
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
	sub, err := vm.Subscription(req.GetSubscriptionId())
	if err != nil {
		return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
			"no subscription "+uitoa(req.GetSubscriptionId())+" in "+vm.Name, "field", "subscription_id")
	}
	var badEdit error
	err = sub.Ack(req.GetSequence(), func(edits *breakpoints.Edits) error {
		for _, r := range req.GetSetRegisters() {
			var err error
			if len(r.GetRaw()) > 0 {
				err = edits.SetRegisterBytes(r.GetName(), r.GetRaw())
			} else {
				err = edits.SetRegister(r.GetName(), r.GetValue())
			}
			if err != nil {
				badEdit = invalid("set_registers", "%s: %v", r.GetName(), err)
				return badEdit
			}
		}
		return nil
	})
	switch {
	case badEdit != nil:
		// The hit stays held: the client may ack it again, corrected.
		return nil, badEdit
	case errors.Is(err, breakpoints.ErrNotHeld):
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED,
			"hit "+uitoa(req.GetSequence())+" is not held (never, already acked, or its deadline passed)")
	case err != nil:
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED, err.Error())
	}
	return &pb.AckResponse{}, nil
}

// event maps a manager event onto the stream; nil skips it. An error (a
// register the subscriber named that the vCPU lacks) ends the stream.
func (s *breakpointService) event(ctx context.Context, vm *session.Session, k *nt.Opened, sub *session.Subscription, ids *nt.ThreadIdentities, ev breakpoints.Event, req *pb.SubscribeRequest) (*pb.SubscribeResponse, error) {
	switch ev.Kind {
	case breakpoints.EventHit:
		h := ev.Hit
		clientHolds := req.GetHold()
		regs, err := selectedRegistersPB(h.Regs, req.GetRegisters())
		if err != nil {
			return nil, err
		}
		hit := &pb.BreakpointHit{
			Sequence: ev.Seq, Time: timestamppb.New(ev.Time), Cpu: cpuIndex(h.CPU), Address: h.Addr,
			Registers: regs, Held: ev.Held && clientHolds, Dropped: ev.Lost,
		}
		if len(ev.Observers) > 0 {
			hit.BreakpointId = uint64(ev.Observers[0])
		}
		if len(ev.ReturnOf) > 0 {
			hit.ReturnOf = uint64(ev.ReturnOf[0])
			if ev.Call != nil {
				hit.CallRsp = ev.Call.RSP
			}
		}
		vm.CountHit(ev.Observers)
		proc := s.identify(vm, ids, h, ev.Held, hit)
		if k == nil {
			k = vm.FoundKernel()
		}
		sym := describe(ctx, k, proc, h.Addr)
		if sym.InModule() {
			hit.Symbol, hit.SymbolSource = sym.String(), sourcePB(sym)
		}
		if req.GetStack() {
			hit.Stack = s.hitStack(ctx, vm, h, ev.Held, int(req.GetMaxStackFrames()))
		}
		if ev.Held {
			sub.Held(ev.Seq, ev.Edits)
			if clientHolds {
				hit.HoldUntil = timestamppb.New(ev.Time.Add(holdFor(req)))
			} else if err := sub.Ack(ev.Seq, nil); err != nil {
				// Held only for the stack: its hold ends with it. Late
				// (the stack took longer than the hold): the guest
				// already went on.
				vm.Log().Debug("releasing a hit held for its stack", "seq", ev.Seq, "error", err)
			}
		}
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_Hit{Hit: hit}}, nil
	case breakpoints.EventStop:
		// Only an outside pause is news to a subscriber: the other stops
		// (an API Pause or Step) were asked for by a client.
		if ev.Stop == nil || !ev.Stop.Outside {
			return nil, nil
		}
		reason := "paused outside Frost (virsh suspend, QMP stop or a dump)"
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_VmEvent{VmEvent: &pb.VMEvent{
			Kind: pb.VMEvent_KIND_PAUSED_OUTSIDE, Time: timestamppb.New(ev.Time), Reason: reason}}}, nil
	case breakpoints.EventReset, breakpoints.EventShutdown, breakpoints.EventGone, breakpoints.EventResumed:
		if ev.Kind != breakpoints.EventResumed {
			// Threads and processes of the old boot are gone.
			ids.Reset()
		}
		out := &pb.VMEvent{Kind: vmEventKind(ev.Kind), Time: timestamppb.New(ev.Time), Reason: ev.Reason}
		if ev.Err != nil && out.Reason == "" {
			out.Reason = ev.Err.Error()
		}
		for _, id := range ev.Removed {
			out.DroppedBreakpointIds = append(out.DroppedBreakpointIds, uint64(id))
		}
		return &pb.SubscribeResponse{Event: &pb.SubscribeResponse_VmEvent{VmEvent: out}}, nil
	}
	return nil, nil
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
// Threads seen before are confirmed through ids, not read again.
func (s *breakpointService) identify(vm *session.Session, ids *nt.ThreadIdentities, h *breakpoints.Hit, held bool, out *pb.BreakpointHit) *nt.Process {
	// Only a kernel already found: a hit must never wait on (or stop the
	// guest for) a search, and a guest that is not Windows has none.
	k := vm.FoundKernel()
	if k == nil {
		return nil
	}
	var ethread uint64
	switch {
	case h.ThreadKnown:
		ethread = h.Thread
	case held && h.Regs != nil:
		cur, err := k.Current(h.Regs)
		if err != nil {
			return nil
		}
		ethread = cur.Thread.ETHREAD
	default:
		return nil
	}
	tid, pid, p, err := ids.Thread(k.Kernel, ethread)
	if err != nil {
		return nil
	}
	out.Tid, out.Pid = cid32(tid), cid32(pid)
	if p == nil {
		return nil
	}
	out.ProcessName = p.Name
	return p
}

// stackHold bounds how long a hit waits for its stack when only the stack
// holds it: a stack that takes longer is reported with what was unwound.
const stackHold = 2 * time.Second

// hitStack unwinds the stack at a hit. Only while the guest waits there:
// after it runs on, the stack is another.
func (s *breakpointService) hitStack(ctx context.Context, vm *session.Session, h *breakpoints.Hit, held bool, max int) *pb.Stack {
	if !held {
		return &pb.Stack{Error: "the hit was not held (the subscription's queue was full), so its stack was gone before it could be read"}
	}
	sctx, cancel := context.WithTimeout(ctx, stackHold)
	defer cancel()
	at, err := vm.HitStack(sctx, h, max)
	if err != nil {
		return &pb.Stack{Error: err.Error()}
	}
	return stackPB(at.Stack)
}
