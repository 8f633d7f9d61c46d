package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

type cpuService struct {
	pb.UnimplementedCPUServiceServer
	c *Config
}

func (s *cpuService) Pause(ctx context.Context, req *pb.PauseRequest) (*pb.PauseResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	var d time.Duration
	if l := req.GetLease(); l != nil {
		if err := l.CheckValid(); err != nil {
			return nil, invalid("lease", "%v", err)
		}
		d = l.AsDuration()
	}
	if id := req.GetLeaseId(); id != "" {
		l, err := vm.RenewPause(id, d)
		if err != nil {
			return nil, leaseError(vm.Name, id, err)
		}
		return &pb.PauseResponse{LeaseId: l.ID, Lease: durationpb.New(l.Length)}, nil
	}
	l, stop, was, err := vm.PauseLeased(ctx, callerName(ctx), d)
	if err != nil {
		return nil, leaseError(vm.Name, "", err)
	}
	return &pb.PauseResponse{Stop: stopInfo(stop, time.Now()), WasRunning: was, LeaseId: l.ID, Lease: durationpb.New(l.Length)}, nil
}

// leaseError maps the lease's own errors; the rest are the target's.
func leaseError(vm, id string, err error) error {
	switch {
	case errors.Is(err, session.ErrLeaseEnded):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HOLD_EXPIRED,
			vm+": pause lease "+id+": "+err.Error()+" (pause again)", "vm", vm)
	case errors.Is(err, session.ErrLeaseTooLong):
		return invalid("lease", "%v", err)
	}
	return targetError(vm, "pausing", err)
}

// callerName names who asked, for the log of a lease that lapses.
func callerName(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return "unknown peer"
}

func (s *cpuService) Resume(ctx context.Context, req *pb.ResumeRequest) (*pb.ResumeResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	if err := vm.ResumeLeased(ctx); err != nil {
		return nil, targetError(vm.Name, "resuming", err)
	}
	return &pb.ResumeResponse{}, nil
}

func (s *cpuService) Step(ctx context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	cpu, err := cpuByIndex(ctx, vm, req.GetCpu())
	if err != nil {
		return nil, err
	}
	stop, err := vm.Step(ctx, cpu)
	if err != nil {
		return nil, targetError(vm.Name, "stepping", err)
	}
	info := stopInfo(stop, time.Now())
	info.Reason = pb.StopReason_STOP_REASON_STEP
	return &pb.StepResponse{Stop: info}, nil
}

func (s *cpuService) GetRegisters(ctx context.Context, req *pb.GetRegistersRequest) (*pb.GetRegistersResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	cpus, err := vm.Target.CPUs(ctx)
	if err != nil {
		return nil, targetError(vm.Name, "listing vCPUs of", err)
	}
	if req.Cpu != nil {
		c, err := cpuByIndex(ctx, vm, req.GetCpu())
		if err != nil {
			return nil, err
		}
		cpus = []vmi.CPU{c}
	}
	resp := &pb.GetRegistersResponse{}
	for _, c := range cpus {
		regs, err := vm.Target.Registers(ctx, c)
		if err != nil {
			return nil, targetError(vm.Name, "reading registers of", err)
		}
		resp.Cpus = append(resp.Cpus, registersPB(regs))
	}
	if req.GetSystem() {
		resp.System, resp.SystemError = systemRegisters(ctx, vm, cpus)
	}
	return resp, nil
}

func (s *cpuService) SetRegisters(ctx context.Context, req *pb.SetRegistersRequest) (*pb.SetRegistersResponse, error) {
	if !s.c.AllowWrite {
		return nil, writesDisabled("SetRegisters")
	}
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	if len(req.GetRegisters()) == 0 {
		return nil, invalid("registers", "no register to write")
	}
	cpu, err := cpuByIndex(ctx, vm, req.GetCpu())
	if err != nil {
		return nil, err
	}
	regs, err := vm.Target.Registers(ctx, cpu)
	if err != nil {
		return nil, targetError(vm.Name, "reading registers of", err)
	}
	// Edit a copy: the Target may hand out its cached snapshot.
	regs = regs.Clone()
	if err := applyRegisters(regs, req.GetRegisters()); err != nil {
		return nil, err
	}
	if err := vm.Target.SetRegisters(ctx, cpu, regs); err != nil {
		return nil, targetError(vm.Name, "writing registers of", err)
	}
	after, err := vm.Target.Registers(ctx, cpu)
	if err != nil {
		return nil, targetError(vm.Name, "reading back registers of", err)
	}
	return &pb.SetRegistersResponse{Registers: registersPB(after)}, nil
}
