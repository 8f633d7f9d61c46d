package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

type vmService struct {
	pb.UnimplementedVMServiceServer
	c *Config
}

func (s *vmService) hypervisor() (session.Hypervisor, error) {
	if s.c.Hypervisor == nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			"frostd has no libvirt connection (see --libvirt)")
	}
	return s.c.Hypervisor, nil
}

func (s *vmService) ListDomains(ctx context.Context, _ *pb.ListDomainsRequest) (*pb.ListDomainsResponse, error) {
	h, err := s.hypervisor()
	if err != nil {
		return nil, err
	}
	ds, err := h.Domains(ctx)
	if err != nil {
		return nil, hypervisorError("libvirt", "listing domains of", err)
	}
	resp := &pb.ListDomainsResponse{}
	for _, d := range ds {
		resp.Domains = append(resp.Domains, s.domain(d))
	}
	return resp, nil
}

func (s *vmService) domain(d vmi.DomainInfo) *pb.Domain {
	// A session whose QEMU exited holds nothing any more: not attached
	// (its calls say "guest is gone" until a Detach or a new Attach).
	vm := s.c.Registry.Lookup(d.Name)
	return &pb.Domain{
		Name: d.Name, Uuid: d.UUID, Id: d.ID,
		State:    domainState(d.State),
		Attached: vm != nil && vm.Gone() == nil,
	}
}

func (s *vmService) Attach(ctx context.Context, req *pb.AttachRequest) (*pb.AttachResponse, error) {
	if req.GetName() == "" {
		return nil, invalid("name", "a domain name or UUID is required")
	}
	h, err := s.hypervisor()
	if err != nil {
		return nil, err
	}
	d, err := session.FindDomain(ctx, h, req.GetName())
	if err != nil {
		return nil, hypervisorError(req.GetName(), "looking up", err)
	}
	if old := s.c.Registry.Lookup(d.Name); old != nil && old.Gone() != nil {
		// Its QEMU exited, and the domain may run again (virsh start):
		// the dead session goes, and this attach takes the new QEMU.
		if s.c.Registry.Remove(d.Name) == old {
			_ = old.Close(context.WithoutCancel(ctx))
			s.c.Log.Info("replacing the session of a gone guest", "vm", d.Name, "was", old.Gone())
		}
	}
	if s.c.Registry.Lookup(d.Name) != nil {
		return nil, apiError(codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_VM_ALREADY_ATTACHED,
			"VM "+d.Name+" is already attached", "vm", d.Name)
	}
	if s.c.Attach == nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_HYPERVISOR, "frostd has no libvirt connection to attach with (see --libvirt)")
	}
	t, err := s.c.Attach(ctx, d.Name)
	if err != nil {
		return nil, hypervisorError(d.Name, "attaching", err)
	}
	vm, err := s.c.newSession(d.Name, d.UUID, t)
	if err != nil {
		_ = t.Close(context.WithoutCancel(ctx))
		return nil, targetError(d.Name, "attaching", err)
	}
	// Connecting to the stub stops the guest; attaching must not change
	// whether it runs, so a guest that ran before runs again.
	if d.State == vmi.DomainRunning {
		if err := vm.Manager().Resume(ctx); err != nil {
			_ = vm.Close(context.WithoutCancel(ctx))
			return nil, targetError(d.Name, "resuming after attach", err)
		}
	}
	if err := s.c.Registry.Add(vm); err != nil {
		// Lost a race with another Attach: let this hold go cleanly.
		_ = vm.Close(context.WithoutCancel(ctx))
		return nil, sessionError(d.Name, err)
	}
	s.c.Log.Info("attached", "vm", d.Name, "uuid", d.UUID)
	return &pb.AttachResponse{Vm: vmInfo(vm, s.domain(d))}, nil
}

func (s *vmService) Detach(ctx context.Context, req *pb.DetachRequest) (*pb.DetachResponse, error) {
	if _, _, err := s.c.getAny(req.GetVm()); err != nil {
		return nil, err
	}
	// The guest must be let go even if the client gives up waiting; it
	// stays recorded (state file, guard) until it is.
	gone := false
	if vm := s.c.Registry.Lookup(req.GetVm()); vm != nil {
		gone = vm.Gone() != nil
	}
	vm, err := s.c.Registry.Detach(context.WithoutCancel(ctx), req.GetVm())
	if vm == nil {
		// Detached by a concurrent call: the outcome asked for holds.
		return &pb.DetachResponse{}, nil
	}
	if gone {
		// Nothing to let go: QEMU exited. Frost forgets the guest; its
		// log says why it was gone rather than a detach error.
		s.c.Log.Info("detached a gone guest", "vm", vm.Name, "gone", vm.Gone())
		return &pb.DetachResponse{}, nil
	}
	if err != nil {
		return nil, hypervisorError(vm.Name, "detaching", err)
	}
	s.c.Log.Info("detached", "vm", vm.Name)
	return &pb.DetachResponse{}, nil
}

func (s *vmService) GetVM(ctx context.Context, req *pb.GetVMRequest) (*pb.GetVMResponse, error) {
	if req.GetVm() == "" {
		return nil, invalid("vm", "a VM name is required")
	}
	h, err := s.hypervisor()
	if err != nil {
		return nil, err
	}
	d, err := session.FindDomain(ctx, h, req.GetVm())
	if err != nil {
		return nil, hypervisorError(req.GetVm(), "looking up", err)
	}
	resp := &pb.GetVMResponse{Domain: s.domain(d)}
	vm := s.c.Registry.Lookup(d.Name)
	if req.GetFindKernel() {
		if vm == nil {
			_, err := s.c.get(d.Name) // the registry's own "not attached" error
			return nil, err
		}
		// A guest with no Windows kernel is an answer (kernel_search), not
		// a failure; being unable to look is.
		if _, err := vm.RetryKernel(ctx); err != nil && !errors.Is(err, nt.ErrKernelNotFound) {
			return nil, kernelError(vm.Name, err)
		}
	}
	if vm != nil {
		resp.Vm = vmInfo(vm, resp.Domain)
	}
	return resp, nil
}

// LaunchDemoGuest is no longer frostd's: the bundled mini-NT is a test
// guest, and the product does not link it. The RPC stays in the contract
// for wire compatibility (deprecated in vm.proto); its answer names the
// demo tool's command that replaced it.
func (s *vmService) LaunchDemoGuest(context.Context, *pb.LaunchDemoGuestRequest) (*pb.LaunchDemoGuestResponse, error) {
	return nil, apiError(codes.Unimplemented, pb.ErrorReason_ERROR_REASON_UNSPECIFIED,
		"LaunchDemoGuest was removed from frostd: launch the bundled guest with `minint define NAME [--paging-file PATH] [--paused]`",
		"replacement", "minint define")
}

func domainState(s vmi.DomainState) pb.DomainState {
	switch s {
	case vmi.DomainRunning:
		return pb.DomainState_DOMAIN_STATE_RUNNING
	case vmi.DomainBlocked:
		return pb.DomainState_DOMAIN_STATE_BLOCKED
	case vmi.DomainPaused:
		return pb.DomainState_DOMAIN_STATE_PAUSED
	case vmi.DomainShutdown:
		return pb.DomainState_DOMAIN_STATE_SHUTDOWN
	case vmi.DomainShutoff:
		return pb.DomainState_DOMAIN_STATE_SHUTOFF
	case vmi.DomainCrashed:
		return pb.DomainState_DOMAIN_STATE_CRASHED
	case vmi.DomainPMSuspended:
		return pb.DomainState_DOMAIN_STATE_PM_SUSPENDED
	}
	return pb.DomainState_DOMAIN_STATE_UNSPECIFIED
}

// hypervisorError is targetError, but a call made while libvirtd is away
// (restarting; frostd reconnects with backoff) is Unavailable, which
// clients retry, rather than Internal with a dead socket's error.
func hypervisorError(vm, op string, err error) error {
	if errors.Is(err, vmi.ErrHypervisorUnavailable) {
		return apiError(codes.Unavailable, pb.ErrorReason_ERROR_REASON_HYPERVISOR,
			fmt.Sprintf("%s %s: %v", op, vm, err), "vm", vm)
	}
	return targetError(vm, op, err)
}
