package api

import (
	"context"
	"errors"
	"sort"
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
}

// NewRegistry makes an empty registry. observe, if not nil, is called with
// the sorted names after every change, under the registry's lock so that
// calls arrive in order.
func NewRegistry(observe func(names []string)) *Registry {
	return &Registry{vms: map[string]*VM{}, observer: observe}
}

// Get returns an attached VM, or FailedPrecondition naming it.
func (r *Registry) Get(name string) (*VM, error) {
	if name == "" {
		return nil, invalid("vm", "a VM name is required")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if vm, ok := r.vms[name]; ok {
		return vm, nil
	}
	return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED,
		"VM "+name+" is not attached: attach it first", "vm", name)
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
