package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/winboot"
)

type bootService struct {
	pb.UnimplementedBootServiceServer
	c *Config
}

// Boot checks the request, then hands the boot to the session layer's
// Booter, which runs it in frostd to its end, and streams the job's
// record: from BOOT_PHASE_ACCEPTED on, a client that leaves only stops
// watching.
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
	d, err := session.FindDomain(ctx, s.c.Hypervisor, req.GetName())
	if err != nil {
		return targetError(req.GetName(), "looking up", err)
	}
	if d.State != vmi.DomainShutoff {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			"domain "+d.Name+" is "+d.State.String()+": Boot starts a shut-off domain", "vm", d.Name)
	}
	if s.c.Registry.Lookup(d.Name) != nil {
		return apiError(codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_VM_ALREADY_ATTACHED,
			"VM "+d.Name+" is already attached: detach it first", "vm", d.Name)
	}
	job, err := s.c.booter.Boot(session.BootRequest{Name: d.Name, UUID: d.UUID, Winboot: req.GetWinboot(), Deadline: req.GetDeadline().AsDuration()})
	if errors.Is(err, session.ErrBootInProgress) {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			"a boot of "+d.Name+" is in progress: `frostctl boot --status "+d.Name+"` follows it", "vm", d.Name)
	}
	if err != nil {
		return targetError(d.Name, "booting", err)
	}
	return watchErr(watchBoot(ctx, job, true, stream.Send), ctx)
}

// WatchBoot streams the record of a domain's latest boot.
func (s *bootService) WatchBoot(req *pb.WatchBootRequest, stream pb.BootService_WatchBootServer) error {
	ctx := stream.Context()
	if req.GetName() == "" {
		return invalid("name", "a domain name or UUID is required")
	}
	job := s.c.booter.Latest(req.GetName())
	if job == nil && s.c.Hypervisor != nil {
		// The request may name the domain by UUID.
		if d, err := session.FindDomain(ctx, s.c.Hypervisor, req.GetName()); err == nil {
			job = s.c.booter.Latest(d.Name)
		}
	}
	if job == nil {
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND,
			"no boot of "+req.GetName()+" since this frostd started", "vm", req.GetName())
	}
	return watchErr(watchBoot(ctx, job, req.GetFollow(), stream.Send), ctx)
}

// watchBoot maps a boot job's record onto the stream.
func watchBoot(ctx context.Context, job *session.BootJob, follow bool, send func(*pb.BootResponse) error) error {
	return job.Watch(ctx, follow,
		func(st session.BootStep) error { return send(stepResponse(st)) },
		func(r *session.BootResult) error {
			return send(&pb.BootResponse{Event: &pb.BootResponse_Status{Status: resultStatus(r)}})
		})
}

// watchErr is what a watching RPC returns: nothing when its client left
// (the boot goes on), the send error otherwise.
func watchErr(err error, ctx context.Context) error {
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// stepResponse is one step as a progress message.
func stepResponse(st session.BootStep) *pb.BootResponse {
	phase, msg := bootPhase(st.Stage), st.Message
	if phase == pb.BootPhase_BOOT_PHASE_UNSPECIFIED {
		// The phase cannot say what happened (phase1-enter, reset,
		// late): the message leads with the stage.
		msg = st.Stage + ": " + msg
	}
	return &pb.BootResponse{Event: &pb.BootResponse_Progress{Progress: &pb.BootProgress{
		Time: timestamppb.New(st.Time), Phase: phase, Message: msg}}}
}

// resultStatus is a boot's end as its BootStatus.
func resultStatus(r *session.BootResult) *pb.BootStatus {
	out := bootStatus(r.Report, r.Err)
	out.Name, out.Winboot = r.Name, r.Winboot
	out.Started, out.Finished = timestamppb.New(r.Started), timestamppb.New(r.Finished)
	out.Success = r.Success
	if !r.Winboot && r.Err == nil {
		out.Actions = []string{"started paused", "attached", "resumed"}
	}
	return out
}

func bootPhase(stage string) pb.BootPhase {
	switch stage {
	case session.StageAccepted:
		return pb.BootPhase_BOOT_PHASE_ACCEPTED
	case session.StageStarting:
		return pb.BootPhase_BOOT_PHASE_STARTING
	case session.StageAttached:
		return pb.BootPhase_BOOT_PHASE_ATTACHED
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
