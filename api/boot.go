package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/frostvmi/frost/breakpoints"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/winboot"
)

type bootService struct {
	pb.UnimplementedBootServiceServer
	c *Config
}

// Boot starts the domain paused, attaches before its first instruction,
// runs winboot (when asked) and streams its steps; the final message is
// its report. The VM stays attached.
func (s *bootService) Boot(req *pb.BootRequest, stream pb.BootService_BootServer) error {
	ctx := stream.Context()
	if req.GetName() == "" {
		return invalid("name", "a domain name or UUID is required")
	}
	if s.c.Hypervisor == nil || s.c.Start == nil || s.c.Attach == nil {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			"frostd has no libvirt connection to boot with (see --libvirt)")
	}
	if req.GetWinboot() && s.c.Symbols == nil {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND,
			"winboot needs the kernel's symbols: start frostd with --symbol-path or _NT_SYMBOL_PATH")
	}
	d, err := findDomain(ctx, s.c.Hypervisor, req.GetName())
	if err != nil {
		return targetError(req.GetName(), "looking up", err)
	}
	if d.State != libvirt.StateShutoff {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			"domain "+d.Name+" is "+d.State.String()+": Boot starts a shut-off domain", "vm", d.Name)
	}
	send := func(phase pb.BootPhase, msg string) error {
		return stream.Send(&pb.BootResponse{Event: &pb.BootResponse_Progress{Progress: &pb.BootProgress{
			Time: timestamppb.Now(), Phase: phase, Message: msg}}})
	}
	// Once started the domain is stopped until Boot lets it run: a client
	// that has gone must not make Boot return before that, so progress
	// that cannot be sent is only logged.
	progress := func(phase pb.BootPhase, msg string) {
		if err := send(phase, msg); err != nil {
			s.c.Log.Debug("boot progress not sent", "vm", d.Name, "error", err)
		}
	}
	if err := s.c.Start(ctx, d.Name, true); err != nil {
		return targetError(d.Name, "starting", err)
	}
	progress(pb.BootPhase_BOOT_PHASE_STARTING, "started paused")
	t, err := s.c.Attach(ctx, d.Name)
	if err != nil {
		// Nobody holds the domain: let it run rather than leave it
		// paused in libvirt, unconfigured, and say so.
		if s.c.Resume != nil {
			if rerr := s.c.Resume(context.WithoutCancel(ctx), d.Name); rerr != nil {
				s.c.Log.Error("resuming a domain Boot could not attach to", "vm", d.Name, "error", rerr)
			}
		}
		return targetError(d.Name, "attaching to (the domain was let run unconfigured)", err)
	}
	vm := &VM{Name: d.Name, UUID: d.UUID, Target: t, Since: time.Now()}
	if err := s.c.Registry.Add(vm); err != nil {
		_ = t.Close(context.WithoutCancel(ctx))
		return err
	}
	progress(pb.BootPhase_BOOT_PHASE_ATTACHED, "attached before the first instruction")
	if !req.GetWinboot() {
		if err := t.Resume(context.WithoutCancel(ctx)); err != nil {
			return targetError(d.Name, "resuming", err)
		}
		return send(pb.BootPhase_BOOT_PHASE_DONE, "running")
	}
	// winboot drives the guest through a manager of its own making: no
	// kernel exists yet for the API's (it is found on first use later).
	// It stays the VM's manager after winboot, so it names threads and
	// translates frames through the kernel once the API has found it.
	late := lateKernel{vm}
	mgr, err := breakpoints.New(t, breakpoints.Options{Logger: s.c.Log.With("vm", d.Name), Threads: late, Translate: late.translate})
	if err != nil {
		// Without a manager winboot cannot run; the guest must not stay
		// stopped for it.
		if rerr := t.Resume(context.WithoutCancel(ctx)); rerr != nil {
			s.c.Log.Warn("resuming after the breakpoint manager failed", "vm", d.Name, "error", rerr)
		}
		return targetError(d.Name, "starting the breakpoint manager of", err)
	}
	vm.bp.mu.Lock()
	vm.bp.mgr = mgr
	vm.bp.set = map[breakpoints.ID]*apiBreakpoint{}
	vm.bp.subs = map[uint64]*subscription{}
	vm.bp.mu.Unlock()
	return s.winboot(ctx, req, vm, mgr, stream)
}

func (s *bootService) winboot(ctx context.Context, req *pb.BootRequest, vm *VM, mgr *breakpoints.Manager, stream pb.BootService_BootServer) error {
	// Progress must never block winboot (the guest may be stopped): a
	// bounded queue, and a step that does not fit is only logged.
	steps := make(chan winboot.Step, 256)
	type result struct {
		r   *winboot.Report
		err error
	}
	done := make(chan result, 1)
	// The boot goes on if the client leaves: winboot's own deadlines end
	// it, and a guest half-configured would be worse.
	rctx := context.WithoutCancel(ctx)
	go func() {
		r, err := winboot.Run(rctx, vm.Target, mgr, winboot.Options{
			Symbols: s.c.Symbols, FinishTimeout: req.GetDeadline().AsDuration(), Logger: s.c.Log.With("vm", vm.Name),
			Progress: func(st winboot.Step) {
				select {
				case steps <- st:
				default:
					s.c.Log.Warn("winboot progress dropped: slow client", "vm", vm.Name, "stage", st.Stage)
				}
			},
		})
		done <- result{r, err}
	}()
	for {
		select {
		case st := <-steps:
			if err := sendStep(stream, st); err != nil && ctx.Err() == nil {
				return err
			}
		case res := <-done:
			for len(steps) > 0 {
				_ = sendStep(stream, <-steps)
			}
			return stream.Send(&pb.BootResponse{Event: &pb.BootResponse_Status{Status: bootStatus(res.r, res.err)}})
		}
	}
}

func sendStep(stream pb.BootService_BootServer, st winboot.Step) error {
	phase, msg := bootPhase(st.Stage), st.Message
	if phase == pb.BootPhase_BOOT_PHASE_UNSPECIFIED {
		// The phase cannot say what happened (phase1-enter, reset,
		// late): the message leads with winboot's stage.
		msg = st.Stage + ": " + msg
	}
	return stream.Send(&pb.BootResponse{Event: &pb.BootResponse_Progress{Progress: &pb.BootProgress{
		Time: timestamppb.New(st.Time), Phase: phase, Message: msg}}})
}

func bootPhase(stage string) pb.BootPhase {
	switch stage {
	case "waiting":
		return pb.BootPhase_BOOT_PHASE_WAITING_FOR_KERNEL
	case "kernel":
		return pb.BootPhase_BOOT_PHASE_KERNEL_FOUND
	case "winpe":
		return pb.BootPhase_BOOT_PHASE_WINPE_MODE_SET
	case "armed":
		return pb.BootPhase_BOOT_PHASE_BREAKPOINTS_ARMED
	case "pagingfile":
		return pb.BootPhase_BOOT_PHASE_PAGING_FILE_REFUSED
	case "phase1-return":
		return pb.BootPhase_BOOT_PHASE_WINPE_MODE_VERIFIED
	case "csrss":
		return pb.BootPhase_BOOT_PHASE_SESSION_MANAGER_DONE
	case "done":
		return pb.BootPhase_BOOT_PHASE_DONE
	}
	// phase1-enter, reset, late: the stage is in the message.
	return pb.BootPhase_BOOT_PHASE_UNSPECIFIED
}

func bootStatus(r *winboot.Report, err error) *pb.BootStatus {
	out := &pb.BootStatus{}
	if err != nil {
		out.Error = err.Error()
	}
	if r == nil {
		return out
	}
	out.Success = err == nil && r.Success()
	out.Late = r.Late
	out.Actions = r.Actions()
	out.PagingFilesRefused = r.PagingFilesRefused
	if r.KernelBase != 0 {
		before := r.WinPEBefore
		out.WinpeModeBefore = &before
		out.Kernel = &pb.Kernel{Base: r.KernelBase, SymbolsFile: r.SymbolFile, Pdb: &pb.PdbIdentity{PdbName: r.KernelPDB}}
	}
	if r.Phase1Returned {
		after := r.WinPEAfter
		out.WinpeModeAfter = &after
	}
	seen := map[pb.BreakpointKind]bool{}
	for _, b := range r.Breakpoints {
		k := placementKind(b.Placement)
		if !seen[k] {
			seen[k] = true
			out.BreakpointKinds = append(out.BreakpointKinds, k)
		}
	}
	return out
}
