package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{"pause", "", "stop the guest (every vCPU)", cmdPause},
		command{"resume", "", "run the guest", cmdResume},
		command{"step", "[--cpu N]", "execute one instruction on a vCPU", cmdStep},
		command{"regs", "[--cpu N]", "registers of one or every vCPU (guest stopped)", cmdRegs},
	)
}

func cmdPause(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("pause", true), args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewCPUServiceClient(cc).Pause(ctx, &pb.PauseRequest{Vm: c.vm})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { printStop(w, resp.GetStop()) })
}

func cmdResume(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("resume", true), args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewCPUServiceClient(cc).Resume(ctx, &pb.ResumeRequest{Vm: c.vm})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { fmt.Fprintf(w, "%s running\n", c.vm) })
}

func cmdStep(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("step", true)
	cpu := fs.Uint("cpu", 0, "vCPU `index`, from 0")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewCPUServiceClient(cc).Step(ctx, &pb.StepRequest{Vm: c.vm, Cpu: uint32(*cpu)})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { printStop(w, resp.GetStop()) })
}

func cmdRegs(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("regs", true)
	cpu := fs.Int("cpu", -1, "vCPU `index` (default: every vCPU)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	req := &pb.GetRegistersRequest{Vm: c.vm}
	if *cpu >= 0 {
		n := uint32(*cpu)
		req.Cpu = &n
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewCPUServiceClient(cc).GetRegisters(ctx, req)
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
