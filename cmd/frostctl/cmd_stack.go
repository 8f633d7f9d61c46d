package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(command{name: "stack", args: "[--cpu N] [--max N]",
		short: "call stack of a stopped vCPU, unwound from .pdata and symbolized",
		long: `Unwinds the call stack of a vCPU the guest is stopped on (pause, step, or a
held breakpoint), from each module's .pdata and .xdata, and names every frame
from the modules' symbols.`,
		example: "frostctl pause --vm win10\nfrostctl stack --vm win10 --cpu 0 --max 32",
		maxPos:  0, vm: true, setup: cmdStack})
}

// maxStackFrames is the API's limit on one unwind.
const maxStackFrames = 256

func cmdStack(c *cli, fs *pflag.FlagSet) runFunc {
	cpuFlag := newIDFlag(fs, "cpu", "vCPU `index` (default: the one that stopped)")
	maxFrames := fs.Uint("max", 0, "at most `N` frames (default 64, at most 256)")
	return func(ctx context.Context, pos []string) error {
		if *maxFrames > maxStackFrames {
			return fmt.Errorf("--max %d: at most %d frames", *maxFrames, maxStackFrames)
		}
		req := &pb.GetStackRequest{Vm: c.vm, MaxFrames: uint32(*maxFrames)}
		if cpuFlag.set {
			n, err := cpuFlag.u32()
			if err != nil {
				return err
			}
			req.Cpu = &n
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.GetStackResponse, error) {
			return pb.NewCPUServiceClient(cc).GetStack(ctx, req)
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printStackResponse(w, resp) })
	}
}

func printStackResponse(w io.Writer, r *pb.GetStackResponse) {
	fmt.Fprintf(w, "cpu %d", r.GetCpu())
	if r.GetPid() != 0 || r.GetProcessName() != "" {
		fmt.Fprintf(w, " pid %d (%s) tid %d", r.GetPid(), r.GetProcessName(), r.GetTid())
	}
	fmt.Fprintln(w)
	printStack(w, r.GetStack())
}

// printStack lays a stack out as WinDbg's k does, innermost frame first:
// the frame's stack pointer, its instruction pointer and name, then where
// the name came from and how the frame was reached. A walk that stopped
// early says why on its last line: a short stack is never passed off as
// complete.
func printStack(w io.Writer, s *pb.Stack) {
	t := table(w)
	fmt.Fprintln(t, " #\tChild-SP\tRIP\tCall Site\tSymbols\tFound by")
	for _, f := range s.GetFrames() {
		mode := ""
		if f.GetUserMode() {
			mode = " user"
		}
		fmt.Fprintf(t, "%02x\t%s\t%s\t%s\t%s\t[%s]%s\n", f.GetIndex(), addr64(f.GetRsp()), addr64(f.GetRip()),
			frameName(f), sourceName(f.GetSource()), methodName(f.GetMethod()), mode)
	}
	t.Flush()
	switch {
	case s.GetTruncated():
		fmt.Fprintf(w, "(stopped at the frame limit, %d frames: raise it with --max)\n", len(s.GetFrames()))
	case s.GetError() != "":
		fmt.Fprintf(w, "(the walk stopped: %s)\n", s.GetError())
	}
}

// addr64 is an address in full, so that user and kernel frames line up.
func addr64(v uint64) string { return fmt.Sprintf("%08x`%08x", v>>32, v&0xffffffff) }

// frameName is the frame's module!function+0xoff, built from its parts
// when the server left the joined form empty.
func frameName(f *pb.StackFrame) string {
	switch {
	case f.GetSymbol() != "":
		return f.GetSymbol()
	case f.GetModule() != "" && f.GetFunction() != "":
		return fmt.Sprintf("%s!%s+%#x", f.GetModule(), f.GetFunction(), f.GetOffset())
	case f.GetModule() != "":
		return fmt.Sprintf("%s+%#x", f.GetModule(), f.GetRip()-f.GetModuleBase())
	}
	return addr(f.GetRip())
}

func sourceName(s pb.SymbolSource) string {
	if s == pb.SymbolSource_SYMBOL_SOURCE_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(s.String(), "SYMBOL_SOURCE_"))
}

// methodName is how a frame was found, in words: "trap frame", "leaf".
func methodName(m pb.UnwindMethod) string {
	if m == pb.UnwindMethod_UNWIND_METHOD_UNSPECIFIED {
		return "?"
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(m.String(), "UNWIND_METHOD_"), "_", " "))
}
