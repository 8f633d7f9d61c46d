package api

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// VM is a domain Frost holds.
type VM struct {
	Name, UUID string
	Target     vmi.Target
	Since      time.Time

	k  kernelState
	bp bpState
}

// Registry holds the attached VMs by domain name. Its observer (the crash
// recovery state file) hears of every change, so a SIGKILLed frostd knows on
// its next start which guests it may have left with breakpoints in.
type Registry struct {
	mu       sync.Mutex
	vms      map[string]*VM
	observer func(names []string)
	// hv lists libvirt's domains, so that a name that is not attached can
	// be told from one that is no domain at all (a typo). Nil without
	// libvirt.
	hv Hypervisor
}

// NewRegistry makes an empty registry. observe, if not nil, is called with
// the sorted names after every change, under the registry's lock so that
// calls arrive in order.
func NewRegistry(observe func(names []string)) *Registry {
	return &Registry{vms: map[string]*VM{}, observer: observe}
}

// useHypervisor gives Get libvirt's domain list for its errors (Register
// calls it with the services' Hypervisor).
func (r *Registry) useHypervisor(h Hypervisor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hv = h
}

// domainListTimeout bounds the domain listing of Get's error path: Get
// has no context of its own, and an error must not wait on a stuck
// libvirtd for long.
const domainListTimeout = 5 * time.Second

// Get returns an attached VM by domain name (or by UUID, as Attach takes
// either). A name that is not attached is FailedPrecondition ("attach it
// first") when libvirt knows the domain, and NotFound, listing the
// domains libvirt knows, when it does not: a typo is not cured by
// attaching.
func (r *Registry) Get(name string) (*VM, error) {
	if name == "" {
		return nil, invalid("vm", "a VM name is required")
	}
	r.mu.Lock()
	vm, hv := r.vms[name], r.hv
	r.mu.Unlock()
	if vm != nil {
		return vm, nil
	}
	notAttached := func(name string) error {
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED,
			"VM "+name+" is not attached: attach it first", "vm", name)
	}
	if hv == nil {
		return nil, notAttached(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), domainListTimeout)
	defer cancel()
	ds, err := hv.Domains(ctx)
	if err != nil {
		// The name cannot be checked; say so rather than guess.
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED,
			"VM "+name+" is not attached (libvirt could not list its domains to check the name: "+err.Error()+")", "vm", name)
	}
	known := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Name == name {
			return nil, notAttached(name)
		}
		if strings.EqualFold(d.UUID, name) {
			if vm := r.Lookup(d.Name); vm != nil {
				return vm, nil
			}
			return nil, notAttached(d.Name)
		}
		known = append(known, d.Name)
	}
	sort.Strings(known)
	msg := "no domain named " + strconv.Quote(name) + ": libvirt has no domains"
	if len(known) > 0 {
		msg = "no domain named " + strconv.Quote(name) + "; libvirt's domains are: " + strings.Join(known, ", ")
	}
	return nil, apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND, msg,
		"vm", name, "domains", strings.Join(known, ","))
}

// Lookup returns an attached VM or nil, without an error.
func (r *Registry) Lookup(name string) *VM {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.vms[name]
}

// Add records vm; a name already held is AlreadyExists.
func (r *Registry) Add(vm *VM) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.vms[vm.Name]; ok {
		return apiError(codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_VM_ALREADY_ATTACHED,
			"VM "+vm.Name+" is already attached", "vm", vm.Name)
	}
	r.vms[vm.Name] = vm
	r.notify()
	return nil
}

// Remove forgets a VM and returns it (nil if it was not held).
func (r *Registry) Remove(name string) *VM {
	r.mu.Lock()
	defer r.mu.Unlock()
	vm := r.vms[name]
	if vm != nil {
		delete(r.vms, name)
		r.notify()
	}
	return vm
}

// Names lists the attached VMs, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names()
}

func (r *Registry) names() []string {
	names := make([]string, 0, len(r.vms))
	for n := range r.vms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *Registry) notify() {
	if r.observer != nil {
		r.observer(r.names())
	}
}

// CloseAll detaches every VM: its breakpoints are removed and the guest
// resumes (D;1). It is the shutdown path, so it tries every VM
// and returns every failure.
func (r *Registry) CloseAll(ctx context.Context) error {
	var errs []error
	for _, name := range r.Names() {
		if vm := r.Remove(name); vm != nil && vm.Target != nil {
			if err := vm.release(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
