package api

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// kernelState is a VM's Windows kernel model, found on first use and kept:
// nt reads the guest afresh on every call, so only the finding is cached.
type kernelState struct {
	mu     sync.Mutex
	opened *nt.Opened
	// stopSeq is the stop the translator's cache belongs to (0: none).
	stopSeq uint64
	// found is opened, for readers that must not take mu: the breakpoint
	// manager's resolvers run while kernel() may hold mu and wait on the
	// manager (pausing to find the kernel).
	found atomic.Pointer[nt.Opened]
}

// userTop bounds canonical user-mode addresses on x64.
const userTop = 0x0000_8000_0000_0000

// kernel returns the VM's kernel, finding it if need be. Finding it needs
// a stopped vCPU's registers, so a running guest is paused for that
// moment and resumed at once.
func (c *Config) kernel(ctx context.Context, vm *VM) (*nt.Opened, error) {
	vm.k.mu.Lock()
	defer vm.k.mu.Unlock()
	if vm.k.opened == nil {
		k, err := c.openKernel(ctx, vm)
		if err != nil {
			return nil, err
		}
		vm.k.opened = k
		vm.k.found.Store(k)
	}
	syncTranslator(vm)
	return vm.k.opened, nil
}

func (c *Config) openKernel(ctx context.Context, vm *VM) (*nt.Opened, error) {
	if c.Symbols == nil {
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND,
			"finding the kernel of "+vm.Name+" needs its symbols: start frostd with --symbol-path or _NT_SYMBOL_PATH")
	}
	// Finding the kernel needs a stopped vCPU's registers. The guest is
	// held for that moment (through its breakpoint manager once there is
	// one) and then left as it was, even if the client has gone.
	running, stop := vm.Target.Running()
	if running || stop == nil || stop.Registers == nil {
		h, err := vm.hold(ctx)
		if err != nil {
			return nil, targetError(vm.Name, "pausing to find the kernel of", err)
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), holdTimeout)
			defer cancel()
			if err := h.release(rctx); err != nil {
				c.Log.Error("letting the guest go after finding the kernel", "vm", vm.Name, "error", err)
			}
		}()
		stop = h.stop
	}
	if stop == nil || stop.Registers == nil {
		why := errors.New("the stop names no vCPU")
		if stop != nil && stop.RegistersErr != nil {
			why = stop.RegistersErr
		}
		return nil, targetError(vm.Name, "reading registers to find the kernel of", why)
	}
	// nt tries every kernel address the stop holds (a kernel RIP, RSP, the
	// KPCR in a GS base), so a vCPU stopped in user mode does too.
	cfg := nt.Config{Physical: vmi.ReaderAt(vm.Target), Registers: stop.Registers, Symbols: c.Symbols}
	k, err := nt.Open(ctx, cfg)
	if err != nil {
		return nil, kernelError(vm.Name, err)
	}
	if err := c.supplyFiles(vm, k); err != nil {
		c.Log.Warn("the VM's paging and mapped files could not be used", "vm", vm.Name, "error", err)
	}
	return k, nil
}

// syncTranslator ties the translator's cache to the guest's stops: while
// it runs every read walks afresh (and reports a possible smear); once
// stopped, translations are cached for that stop only.
func syncTranslator(vm *VM) {
	tr := vm.k.opened.Translator
	running, stop := vm.Target.Running()
	switch {
	case running:
		tr.Resumed()
		vm.k.stopSeq = 0
	case stop != nil && stop.Seq != vm.k.stopSeq:
		tr.Resumed() // a new stop: what was cached is stale
		tr.Stopped()
		vm.k.stopSeq = stop.Seq
	}
}

// kernelError maps nt's errors.
func kernelError(vm string, err error) error {
	switch {
	case errors.Is(err, nt.ErrNoProcess):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_PROCESS_NOT_FOUND, err.Error(), "vm", vm)
	case errors.Is(err, nt.ErrKernelNotFound):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND,
			vm+": "+err.Error()+" (has the guest's kernel started?)", "vm", vm, "module", "nt")
	}
	if isSymbolsMiss(err) {
		return symbolError("nt", err)
	}
	return targetError(vm, "reading the kernel of", err)
}
