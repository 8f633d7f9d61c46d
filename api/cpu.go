package api

import (
	"context"
	"time"

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
	running, before := vm.Target.Running()
	stop, err := vm.Manager().Pause(ctx)
	if err != nil {
		return nil, targetError(vm.Name, "pausing", err)
	}
	return &pb.PauseResponse{Stop: stopInfo(stop, time.Now()), WasRunning: session.StoppedARunningGuest(running, before, stop)}, nil
}

func (s *cpuService) Resume(ctx context.Context, req *pb.ResumeRequest) (*pb.ResumeResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	if err := vm.Manager().Resume(ctx); err != nil {
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
