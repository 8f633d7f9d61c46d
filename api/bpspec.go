package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// apiBreakpoint is a breakpoint the API armed, as the client asked for it.

// managerSpec turns a client's spec into the manager's: the address (a
// kernel symbol is resolved through the VM's kernel), the address space a
// user address needs, and the filters as nt predicates.
func managerSpec(ctx context.Context, vm string, k *nt.Opened, s *pb.BreakpointSpec, owner string) (breakpoints.Spec, *pb.Breakpoint, error) {
	out := &pb.Breakpoint{Spec: s}
	f := s.GetFilter()
	// A user module's symbol, or a user address, is named in the one
	// process the filter's pid names.
	var proc *nt.Process
	if len(f.GetPids()) == 1 && k != nil {
		p, err := processOf(vm, k, f.GetPids()[0])
		if err != nil {
			return breakpoints.Spec{}, nil, err
		}
		proc = p
	}
	switch loc := s.GetLocation().(type) {
	case *pb.BreakpointSpec_Address:
		out.Address = loc.Address
	case *pb.BreakpointSpec_Symbol:
		n, err := parseSymbolName(loc.Symbol)
		if err != nil {
			return breakpoints.Spec{}, nil, err
		}
		pid := uint32(0)
		if proc != nil {
			pid = cid32(proc.PID)
		}
		sym, err := resolveIn(ctx, vm, k, pid, n)
		if err != nil {
			return breakpoints.Spec{}, nil, err
		}
		if out.Address, err = n.at(sym.Addr, sym.Image.Base, sym.Image.Size); err != nil {
			return breakpoints.Spec{}, nil, err
		}
	default:
		return breakpoints.Spec{}, nil, invalid("spec.location", "give an address or module!symbol")
	}
	// The stub would refuse it as a hypervisor failure; it is the
	// caller's mistake.
	if err := breakpoints.CheckCanonical(out.Address); err != nil {
		return breakpoints.Spec{}, nil, invalid("spec.address", "%v", err)
	}
	kind, err := kindChoice(s.GetKind())
	if err != nil {
		return breakpoints.Spec{}, nil, err
	}
	if sym := describe(ctx, k, proc, out.Address); sym.InModule() {
		out.Symbol = sym.String()
	}
	spec := breakpoints.Spec{Addr: out.Address, Owner: owner, Kind: kind}
	if s.GetBreakOnReturn() {
		// At each accepted hit, a one-shot breakpoint on this call's
		// return; its hits go to this breakpoint's subscribers.
		spec.Handler = func(ctx context.Context, f *breakpoints.Frame) error {
			_, err := f.BreakOnReturn(ctx, breakpoints.ReturnSpec{Owner: owner + " (return)"})
			return err
		}
	}
	pids := make([]uint64, 0, len(f.GetPids()))
	for _, p := range f.GetPids() {
		pids = append(pids, uint64(p))
	}
	if len(pids) > 0 || len(f.GetProcessNames()) > 0 {
		// Also for a user address with its address space: a DLL's page
		// is shared by every process that maps it, and the stub stops
		// them all; the CR3 check alone misses a process attached to
		// another's space.
		spec.Filter.Process = monitor.ProcessFilter(k.Kernel, monitor.Filter{Processes: f.GetProcessNames(), PIDs: pids})
	}
	if len(f.GetTids()) > 0 {
		tids := make([]uint64, 0, len(f.GetTids()))
		for _, t := range f.GetTids() {
			tids = append(tids, uint64(t))
		}
		spec.Filter.Thread = monitor.ThreadFilter(k.Kernel, tids...)
	}
	for _, d := range f.GetDtbs() {
		spec.Filter.AddressSpaces = append(spec.Filter.AddressSpaces, breakpoints.AddressSpace{DirectoryTableBase: d})
	}
	if out.Address < userTop && len(pids) == 0 && len(f.GetDtbs()) == 1 {
		// The stub stops every address space at a user VA: one DTB
		// names the one meant, on any guest.
		spec.AddressSpace = &breakpoints.AddressSpace{DirectoryTableBase: f.GetDtbs()[0]}
	} else if out.Address < userTop {
		// The stub stops every address space at a user VA: the manager
		// needs the one meant, which one pid names.
		if len(pids) != 1 {
			return breakpoints.Spec{}, nil, invalid("spec.filter.pids", "a user-mode address needs exactly one pid (or one DTB) to name its address space")
		}
		spec.AddressSpace = &breakpoints.AddressSpace{DirectoryTableBase: proc.DTB, UserDirectoryTableBase: proc.UserDTB}
	}
	return spec, out, nil
}

// armedPB is an armed breakpoint as the API describes it: the client's
// spec and the resolved address (kept as its label when it was armed),
// with what the session counts.
func armedPB(a session.Armed) *pb.Breakpoint {
	out := &pb.Breakpoint{}
	if l, ok := a.Label.(*pb.Breakpoint); ok {
		out = proto.Clone(l).(*pb.Breakpoint)
	}
	out.Id = uint64(a.ID)
	out.Kind = placementKind(a.Placement)
	out.VisibleToGuest = a.Placement.Visible
	out.SubscriptionOwned = a.Sub != 0
	out.Hits = a.Hits
	return out
}

func placementKind(p breakpoints.Placement) pb.BreakpointKind {
	if p.Kind == vmi.HardwareBreakpoint {
		return pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE
	}
	return pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE
}

func bpError(vm string, err error) error {
	var se *breakpoints.SlotError
	if kerr := kindRefused(vm, err); kerr != nil {
		return kerr
	}
	if asSlot(err, &se) {
		return apiError(codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_NO_BREAKPOINT_SLOT, err.Error(), "vm", vm)
	}
	return targetError(vm, "arming a breakpoint in", err)
}

// describe names an address for an event or a breakpoint: any module's
// symbol, a user address in p's images. Without a kernel, or in no module,
// it is the bare address.
func describe(ctx context.Context, k *nt.Opened, p *nt.Process, va uint64) nt.Symbol {
	if k == nil {
		return nt.Symbol{Addr: va}
	}
	sym, _ := k.Symbolizer().Lookup(ctx, nt.SpaceOf(k.Kernel, p), p, va)
	return sym
}
