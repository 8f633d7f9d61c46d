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
	register(
		command{name: "pause", args: "[--lease D] [--keep | --renew ID]", short: "stop the guest (every vCPU) under a lease that lapses unless renewed",
			long: pauseHelp,
			example: "frostctl pause --vm win10\n" +
				"frostctl pause --vm win10 --lease 5m\n" +
				"frostctl pause --vm win10 --renew 3f2a9c\n" +
				"frostctl pause --vm win10 --keep    # stays paused until ^C, then resumes",
			maxPos: 0, vm: true, setup: cmdPause},
		command{name: "resume", short: "run the guest",
			long:    "Lets a stopped guest run again, and ends every pause lease on it.",
			example: "frostctl resume --vm win10", maxPos: 0, vm: true, setup: cmdResume},
		command{name: "step", args: "[--cpu N]", short: "execute one instruction on a vCPU",
			long:    "Executes one instruction on a vCPU of a stopped guest, and shows where it stopped.",
			example: "frostctl step --vm win10 --cpu 0", maxPos: 0, vm: true, setup: cmdStep},
		command{name: "regs", args: "[--cpu N]", short: "registers of one or every vCPU (guest stopped)",
			long:    "Prints the registers of one vCPU, or of every vCPU, of a stopped guest.",
			example: "frostctl pause --vm win10\nfrostctl regs --vm win10 --cpu 0", maxPos: 0, vm: true, setup: cmdRegs},
	)
}

func cmdResume(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ResumeResponse, error) {
			return pb.NewCPUServiceClient(cc).Resume(ctx, &pb.ResumeRequest{Vm: c.vm})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { fmt.Fprintf(w, "%s running\n", c.vm) })
	}
}

func cmdStep(c *cli, fs *pflag.FlagSet) runFunc {
	cpuFlag := newIDFlag(fs, "cpu", "vCPU `index`, from 0")
	return func(ctx context.Context, pos []string) error {
		cpu, err := cpuFlag.u32()
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.StepResponse, error) {
			return pb.NewCPUServiceClient(cc).Step(ctx, &pb.StepRequest{Vm: c.vm, Cpu: cpu})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printStop(w, resp.GetStop()) })
	}
}

func cmdRegs(c *cli, fs *pflag.FlagSet) runFunc {
	cpuFlag := newIDFlag(fs, "cpu", "vCPU `index` (default: every vCPU)")
	return func(ctx context.Context, pos []string) error {
		req := &pb.GetRegistersRequest{Vm: c.vm}
		if cpuFlag.set {
			n, err := cpuFlag.u32()
			if err != nil {
				return err
			}
			req.Cpu = &n
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.GetRegistersResponse, error) {
			return pb.NewCPUServiceClient(cc).GetRegisters(ctx, req)
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			for i, r := range resp.GetCpus() {
				if i > 0 {
					fmt.Fprintln(w)
				}
				printRegisters(w, r)
			}
		})
	}
}

func printStop(w io.Writer, s *pb.StopInfo) {
	reason := strings.ToLower(strings.TrimPrefix(s.GetReason().String(), "STOP_REASON_"))
	fmt.Fprintf(w, "stopped: cpu %d, %s (stop #%d)", s.GetCpu(), reason, s.GetSequence())
	if s.GetSymbol() != "" {
		fmt.Fprintf(w, " at %s", s.GetSymbol())
	}
	fmt.Fprintln(w)
	if s.GetRegisters() != nil {
		printRegisters(w, s.GetRegisters())
	}
}

// printRegisters lays the general registers out as WinDbg's `r` does,
// three a line, then the rest; wide registers as hex bytes.
func printRegisters(w io.Writer, r *pb.Registers) {
	fmt.Fprintf(w, "cpu %d\n", r.GetCpu())
	n := 0
	for _, reg := range r.GetRegisters() {
		if len(reg.GetRaw()) > 8 {
			continue
		}
		sep := " "
		if n%3 == 2 {
			sep = "\n"
		}
		fmt.Fprintf(w, "%7s=%016x%s", reg.GetName(), reg.GetValue(), sep)
		n++
	}
	if n%3 != 0 {
		fmt.Fprintln(w)
	}
	for _, reg := range r.GetRegisters() {
		if len(reg.GetRaw()) > 8 {
			fmt.Fprintf(w, "%7s=%x\n", reg.GetName(), reg.GetRaw())
		}
	}
}
