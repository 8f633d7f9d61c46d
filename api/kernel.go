package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// userTop bounds canonical user-mode addresses on x64.
const userTop = 0x0000_8000_0000_0000

// kernel returns the VM's kernel (the session finds it once), or the
// API's error.
func (c *Config) kernel(ctx context.Context, vm *session.Session) (*nt.Opened, error) {
	k, err := vm.Kernel(ctx)
	if err != nil {
		return nil, kernelError(vm.Name, err)
	}
	return k, nil
}

// vmKernel is an attached VM and its Windows kernel.
func (c *Config) vmKernel(ctx context.Context, name string) (*session.Session, *nt.Opened, error) {
	vm, err := c.get(name)
	if err != nil {
		return nil, nil, err
	}
	k, err := c.kernel(ctx, vm)
	return vm, k, err
}

// kernelError maps the errors of finding and reading the kernel.
func kernelError(vm string, err error) error {
	switch {
	case errors.Is(err, session.ErrNoSymbols):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND,
			"finding the kernel of "+vm+" needs its symbols: start frostd with --symbol-path or _NT_SYMBOL_PATH")
	case errors.Is(err, session.ErrFiveLevelPaging):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_UNSPECIFIED, vm+": "+err.Error(), "vm", vm)
	case errors.Is(err, nt.ErrNoProcess):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_PROCESS_NOT_FOUND, err.Error(), "vm", vm)
	case errors.Is(err, nt.ErrKernelNotFound):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_MODULE_NOT_FOUND,
			vm+": no Windows kernel found in this guest: "+err.Error()+". Processes, modules, handles, symbols and "+
				"the monitors need one; physical memory, registers, pause/step/resume, dumps, breakpoints at raw "+
				"addresses and virtual memory through a page-table base (--dtb) work on any guest", "vm", vm, "module", "nt")
	}
	if isSymbolsMiss(err) {
		return symbolError("nt", err)
	}
	return targetError(vm, "reading the kernel of", err)
}
