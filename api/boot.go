package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/winboot"
)

type bootService struct {
	pb.UnimplementedBootServiceServer
	c    *Config
	jobs bootJobs
}

// Boot checks the request, then hands the boot to a job that runs in
// frostd to its end (see bootjob.go) and streams the job's record: from
// BOOT_PHASE_ACCEPTED on, a client that leaves only stops watching.
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
	job, err := s.jobs.start(d.Name)
	if err != nil {
		return err
	}
	job.progress(pb.BootPhase_BOOT_PHASE_ACCEPTED, "frostd runs this boot to its end, whatever the client does")
	go func() {
		st := s.run(job, req, d.Name, d.UUID)
		st.Name, st.Winboot = d.Name, req.GetWinboot()
		st.Finished = timestamppb.Now()
		job.finish(st)
		if st.GetError() != "" {
			s.c.Log.Warn("boot ended with an error", "vm", d.Name, "error", st.GetError())
		} else {
			s.c.Log.Info("boot ended", "vm", d.Name, "success", st.GetSuccess())
		}
	}()
	return watchErr(job.watch(ctx, true, stream.Send), ctx)
}

// WatchBoot streams the record of a domain's latest boot.
func (s *bootService) WatchBoot(req *pb.WatchBootRequest, stream pb.BootService_WatchBootServer) error {
	ctx := stream.Context()
	if req.GetName() == "" {
		return invalid("name", "a domain name or UUID is required")
	}
	job := s.jobs.get(req.GetName())
	if job == nil && s.c.Hypervisor != nil {
		// The request may name the domain by UUID.
		if d, err := session.FindDomain(ctx, s.c.Hypervisor, req.GetName()); err == nil {
			job = s.jobs.get(d.Name)
		}
	}
	if job == nil {
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND,
			"no boot of "+req.GetName()+" since this frostd started", "vm", req.GetName())
	}
	return watchErr(job.watch(ctx, req.GetFollow(), stream.Send), ctx)
}

// watchErr is what a watching RPC returns: nothing when its client left
// (the boot goes on), the send error otherwise.
func watchErr(err error, ctx context.Context) error {
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// run is the boot itself: start paused, attach, then resume or winboot. It
// never returns with the domain started paused and nobody holding it, and
// it owns its context: no client can cut it short.
func (s *bootService) run(job *bootJob, req *pb.BootRequest, name, uuid string) *pb.BootStatus {
	ctx := context.Background()
	started := timestamppb.Now()
	failed := func(format string, args ...any) *pb.BootStatus {
		return &pb.BootStatus{Started: started, Error: fmt.Sprintf(format, args...)}
	}
	if err := s.c.Start(ctx, name, true); err != nil {
		return failed("starting %s: %v", name, err)
	}
	job.progress(pb.BootPhase_BOOT_PHASE_STARTING, "started paused")
	t, err := s.c.Attach(ctx, name)
	if err != nil {
		// Nobody holds the domain: let it run rather than leave it
		// paused in libvirt, unconfigured, and say so.
		if s.c.Resume != nil {
			if rerr := s.c.Resume(ctx, name); rerr != nil {
				s.c.Log.Error("resuming a domain Boot could not attach to", "vm", name, "error", rerr)
			}
		}
		return failed("attaching to %s (the domain was let run unconfigured): %v", name, err)
	}
	vm, err := s.c.newSession(name, uuid, t)
	if err != nil {
		// Without a session nobody holds the guest: the target's Close
		// lets it run (detach, or QMP cont).
		_ = t.Close(ctx)
		return failed("taking charge of %s (the guest was let run unconfigured): %v", name, err)
	}
	if err := s.c.Registry.Add(vm); err != nil {
		_ = vm.Close(ctx)
		return failed("%v", err)
	}
	job.progress(pb.BootPhase_BOOT_PHASE_ATTACHED, "attached before the first instruction")
	mgr := vm.Manager()
	if !req.GetWinboot() {
		if err := mgr.Resume(ctx); err != nil {
			return failed("resuming %s: %v", name, err)
		}
		job.progress(pb.BootPhase_BOOT_PHASE_DONE, "running")
		return &pb.BootStatus{Started: started, Success: true, Actions: []string{"started paused", "attached", "resumed"}}
	}
	// winboot drives the guest through the session's manager, which
	// stays the VM's: it names threads and translates frames through the
	// kernel once the session has found it.
	r, err := winboot.Run(ctx, vm.Target, mgr, winboot.Options{
		Symbols: s.c.Symbols, FinishTimeout: req.GetDeadline().AsDuration(), Logger: s.c.Log.With("vm", name),
		Progress: func(st winboot.Step) { job.add(stepResponse(st)) },
	})
	out := bootStatus(r, err)
	out.Started = started
	return out
}

// stepResponse is one winboot step as a progress message.
func stepResponse(st winboot.Step) *pb.BootResponse {
	phase, msg := bootPhase(st.Stage), st.Message
	if phase == pb.BootPhase_BOOT_PHASE_UNSPECIFIED {
		// The phase cannot say what happened (phase1-enter, reset,
		// late): the message leads with winboot's stage.
		msg = st.Stage + ": " + msg
	}
	return &pb.BootResponse{Event: &pb.BootResponse_Progress{Progress: &pb.BootProgress{
		Time: timestamppb.New(st.Time), Phase: phase, Message: msg}}}
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
