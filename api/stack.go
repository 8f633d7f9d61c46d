package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

func (s *cpuService) GetStack(ctx context.Context, req *pb.GetStackRequest) (*pb.GetStackResponse, error) {
	vm, err := s.c.get(req.GetVm())
	if err != nil {
		return nil, err
	}
	var cpu vmi.CPU
	if req.Cpu != nil {
		if cpu, err = cpuByIndex(ctx, vm, req.GetCpu()); err != nil {
			return nil, err
		}
	}
	at, err := vm.Stack(ctx, cpu, int(req.GetMaxFrames()))
	switch {
	case errors.Is(err, session.ErrRunning):
		return nil, apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			vm.Name+": "+err.Error(), "vm", vm.Name)
	case err != nil && isKernelMiss(err):
		return nil, kernelError(vm.Name, err)
	case err != nil:
		return nil, targetError(vm.Name, "reading the stack of", err)
	}
	resp := &pb.GetStackResponse{Cpu: cpuIndex(at.CPU), Stack: stackPB(at.Stack)}
	if at.Thread != nil {
		resp.Tid, resp.Pid = cid32(at.Thread.TID), cid32(at.Thread.PID)
	}
	if at.Process != nil {
		resp.ProcessName = at.Process.Name
	}
	return resp, nil
}

// isKernelMiss: the error is about finding the Windows kernel or its
// symbols, which kernelError explains.
func isKernelMiss(err error) bool {
	return errors.Is(err, nt.ErrKernelNotFound) || errors.Is(err, session.ErrNoSymbols) ||
		errors.Is(err, session.ErrFiveLevelPaging) || isSymbolsMiss(err)
}

// stackPB maps an unwound stack.
func stackPB(st nt.Stack) *pb.Stack {
	out := &pb.Stack{Truncated: st.Truncated}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	for i, f := range st.Frames {
		out.Frames = append(out.Frames, &pb.StackFrame{
			Index: uint32(i), Rip: f.RIP, Rsp: f.RSP,
			Symbol: f.Symbol.String(), Module: moduleOf(f.Symbol), ModuleBase: f.Symbol.Image.Base,
			Function: f.Symbol.Name, Offset: f.Symbol.Offset, Source: sourcePB(f.Symbol),
			Method: methodPB(f.Method), UserMode: f.User(),
		})
	}
	return out
}

func moduleOf(s nt.Symbol) string {
	if !s.InModule() {
		return ""
	}
	return s.Image.ModuleName()
}

func sourcePB(s nt.Symbol) pb.SymbolSource {
	if !s.InModule() {
		return pb.SymbolSource_SYMBOL_SOURCE_NONE
	}
	switch s.Source {
	case nt.SourcePDB:
		return pb.SymbolSource_SYMBOL_SOURCE_PDB
	case nt.SourceExports:
		return pb.SymbolSource_SYMBOL_SOURCE_EXPORTS
	}
	return pb.SymbolSource_SYMBOL_SOURCE_NONE
}

func methodPB(m nt.FrameMethod) pb.UnwindMethod {
	switch m {
	case nt.MethodContext:
		return pb.UnwindMethod_UNWIND_METHOD_CONTEXT
	case nt.MethodUnwindInfo:
		return pb.UnwindMethod_UNWIND_METHOD_UNWIND_INFO
	case nt.MethodEpilogue:
		return pb.UnwindMethod_UNWIND_METHOD_EPILOGUE
	case nt.MethodLeaf:
		return pb.UnwindMethod_UNWIND_METHOD_LEAF
	case nt.MethodMachineFrame:
		return pb.UnwindMethod_UNWIND_METHOD_MACHINE_FRAME
	}
	return pb.UnwindMethod_UNWIND_METHOD_UNSPECIFIED
}
