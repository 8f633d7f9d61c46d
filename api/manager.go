package api

import (
	"context"
	"errors"
	"sync"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
)

// bpState is a VM's breakpoint manager, made on first use. Once it exists
// it is the single consumer of the Target's events, so pausing and
// resuming go through it too.
type bpState struct {
	mu  sync.Mutex
	mgr *breakpoints.Manager
	// set are the breakpoints the API armed, by id, as the client asked
	// for them.
	set  map[breakpoints.ID]*apiBreakpoint
	subs map[uint64]*subscription
	next uint64
}

// manager returns the VM's breakpoint manager and kernel.
func (c *Config) manager(ctx context.Context, vm *VM) (*breakpoints.Manager, *nt.Opened, error) {
	k, err := c.kernel(ctx, vm)
	if err != nil {
		return nil, nil, err
	}
	vm.bp.mu.Lock()
	defer vm.bp.mu.Unlock()
	if vm.bp.mgr == nil {
		mgr, err := breakpoints.New(vm.Target, breakpoints.Options{
			Logger:    c.Log.With("vm", vm.Name),
			Threads:   monitor.Threads(k.Kernel),
			Translate: physicalOf(k.Translator),
		})
		if err != nil {
			return nil, nil, targetError(vm.Name, "starting the breakpoint manager of", err)
		}
		vm.bp.mgr = mgr
		vm.bp.set = map[breakpoints.ID]*apiBreakpoint{}
		vm.bp.subs = map[uint64]*subscription{}
	}
	return vm.bp.mgr, k, nil
}

// existingManager is the manager if one was made, without making one.
func (vm *VM) existingManager() *breakpoints.Manager {
	vm.bp.mu.Lock()
	defer vm.bp.mu.Unlock()
	return vm.bp.mgr
}

// lateKernel resolves threads and frame addresses through the VM's kernel
// once found. Boot makes its manager before any kernel exists (winboot
// finds it), yet that manager stays the VM's for its life: without these,
// its hits would never name their thread.
type lateKernel struct{ vm *VM }

var errNoKernelYet = errors.New("the guest's kernel has not been found yet")

func (l lateKernel) CurrentThread(ctx context.Context, h *breakpoints.Hit) (uint64, error) {
	k := l.vm.k.found.Load()
	if k == nil {
		return 0, errNoKernelYet
	}
	return monitor.Threads(k.Kernel).CurrentThread(ctx, h)
}

func (l lateKernel) translate(ctx context.Context, cr3, va uint64) (uint64, error) {
	k := l.vm.k.found.Load()
	if k == nil {
		return 0, errNoKernelYet
	}
	return physicalOf(k.Translator)(ctx, cr3, va)
}

// physicalOf gives the manager a VA → PA resolution for its frames.
func physicalOf(tr *translate.Translator) breakpoints.TranslateFunc {
	return func(_ context.Context, cr3, va uint64) (uint64, error) {
		loc, err := tr.Translate(cr3, va)
		if err != nil {
			return 0, err
		}
		if loc.State != translate.StateValid && loc.State != translate.StateTransition {
			return 0, &translate.ReadError{What: "page", Err: errNoRAM}
		}
		return loc.Addr, nil
	}
}

// release lets the VM go: the manager (if any) removes every breakpoint and
// resumes, then the Target detaches.
func (vm *VM) release(ctx context.Context) error {
	if mgr := vm.existingManager(); mgr != nil {
		if err := mgr.Close(ctx); err != nil {
			_ = vm.Target.Close(ctx)
			return err
		}
	}
	return vm.Target.Close(ctx)
}
