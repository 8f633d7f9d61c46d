package api

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/audit"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Auditor records every call that changes a guest or stops it in the
// audit log, with who asked (the transport's word: SO_PEERCRED or the
// verified client certificate) and how it ended. Calls are recorded at
// their end, with their result, so a refused write shows up as refused;
// holds and boots are recorded at their start too, so a hold that never
// ends (frostd killed) is still on record.
type Auditor struct {
	Log *audit.Log
	// Roles, when enforced, adds the caller's role to each record.
	Roles *Roles
	// Warn hears audit records that could not be written.
	Warn *slog.Logger

	held heldHits
}

// Interceptors wraps the calls; everything not audited passes straight
// through.
func (a *Auditor) Interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ev, ok := unaryEvent(info.FullMethod, req)
		if !ok {
			return h(ctx, req)
		}
		resp, err := h(ctx, req)
		a.record(ctx, info.FullMethod, ev, err)
		if ack, isAck := req.(*pb.AckRequest); isAck && err == nil {
			a.released(ctx, info.FullMethod, ack)
		}
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !auditedStreams[info.FullMethod] {
			return h(srv, ss)
		}
		as := &auditStream{ServerStream: ss, a: a, method: info.FullMethod}
		err := h(srv, as)
		as.end(err)
		return err
	}
	return unary, stream
}

// unaryEvent is the record of an audited unary call, before its result.
func unaryEvent(method string, req any) (audit.Event, bool) {
	var e audit.Event
	switch r := req.(type) {
	case *pb.WritePhysicalRequest:
		addr := r.GetAddress()
		e = audit.Event{Action: audit.WriteMemory, Address: &addr, Length: len(r.GetData()), Detail: "physical"}
	case *pb.WriteVirtualRequest:
		addr := r.GetAddress()
		e = audit.Event{Action: audit.WriteMemory, Address: &addr, Length: len(r.GetData()), Detail: "virtual " + spaceString(r.GetSpace())}
	case *pb.SetRegistersRequest:
		cpu := r.GetCpu()
		e = audit.Event{Action: audit.WriteRegisters, CPU: &cpu, Registers: registerNames(r.GetRegisters())}
	case *pb.AckRequest:
		if len(r.GetSetRegisters()) == 0 {
			return e, false // the release itself is recorded by released
		}
		e = audit.Event{Action: audit.WriteRegisters, Registers: registerNames(r.GetSetRegisters()),
			Subscription: r.GetSubscriptionId(), Sequence: r.GetSequence(), Detail: "at a held hit's ack"}
	case *pb.PauseRequest:
		e.Action = audit.Pause
	case *pb.ResumeRequest:
		e.Action = audit.Resume
	case *pb.StepRequest:
		e.Action = audit.Step
	case *pb.AttachRequest:
		e.Action = audit.Attach
	case *pb.DetachRequest:
		e.Action = audit.Detach
	default:
		return e, false
	}
	e.VM = vmOf(req)
	return e, true
}

// vmOf is the VM a request names: most name it vm, Attach and Boot name.
func vmOf(req any) string {
	switch r := req.(type) {
	case interface{ GetVm() string }:
		return r.GetVm()
	case interface{ GetName() string }:
		return r.GetName()
	}
	return ""
}

func registerNames(regs []*pb.Register) []string {
	out := make([]string, 0, len(regs))
	for _, r := range regs {
		out = append(out, r.GetName())
	}
	return out
}

func spaceString(s *pb.AddressSpace) string {
	if s == nil {
		return "(no space)"
	}
	return s.String()
}

// record fills in who and the result and writes e.
func (a *Auditor) record(ctx context.Context, method string, e audit.Event, err error) {
	e.Method = method
	e.Who = callerOf(ctx).who()
	if a.Roles != nil {
		e.Who.Role = a.Roles.roleOf(callerOf(ctx)).String()
	}
	if e.Result == "" {
		e.Result = status.Code(err).String()
	}
	if err != nil && e.Error == "" {
		e.Error = truncate(status.Convert(err).Message(), 200)
	}
	if werr := a.Log.Record(e); werr != nil && a.Warn != nil {
		a.Warn.Error("audit record lost", "action", e.Action, "vm", e.VM, "error", werr)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// released records the end of a held hit that an Ack let go, with how
// long the guest waited for it.
func (a *Auditor) released(ctx context.Context, method string, r *pb.AckRequest) {
	h, ok := a.held.take(r.GetVm(), r.GetSubscriptionId(), r.GetSequence())
	if !ok {
		return // not a hold this Auditor saw begin (or already ended)
	}
	d, detail := h.heldUntil(time.Now())
	a.record(ctx, method, audit.Event{Action: audit.HitReleased, VM: r.GetVm(), Subscription: r.GetSubscriptionId(),
		Sequence: r.GetSequence(), Held: &d, Detail: "acked" + detail}, nil)
}

// OpenAuditor opens the audit log at path ("stderr" for standard error)
// for frostd's wiring, which then needs no import of package audit.
func OpenAuditor(path string, roles *Roles, warn *slog.Logger) (*Auditor, error) {
	l, err := audit.Open(path)
	if err != nil {
		return nil, err
	}
	return &Auditor{Log: l, Roles: roles, Warn: warn}, nil
}

// Close closes the audit log's file.
func (a *Auditor) Close() error { return a.Log.Close() }
