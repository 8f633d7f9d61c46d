package main

import (
	"context"
	"fmt"
	"io"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{"ps", "", "processes", cmdPs},
		command{"threads", "[--pid N]", "threads of one or every process", cmdThreads},
		command{"modules", "[--pid N]", "kernel drivers, or a process's modules", cmdModules},
		command{"handles", "--pid N", "a process's handles", cmdHandles},
		command{"vads", "--pid N", "a process's VADs", cmdVads},
	)
}

func cmdPs(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags("ps", true), args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewProcessServiceClient(cc).ListProcesses(ctx, &pb.ListProcessesRequest{Vm: c.vm})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		t := table(w)
		fmt.Fprintln(t, "PID\tPPID\tName\tThreads\tDTB\tEPROCESS\tCreated (UTC)\tCommand line")
		for _, p := range resp.GetProcesses() {
			name := p.GetName()
			if p.GetExited() {
				name += " (exited)" // when: in --json (exit_time)
			}
			created := "-"
			if p.GetCreateTime() != nil {
				created = p.GetCreateTime().AsTime().Format(time.DateTime)
			}
			fmt.Fprintf(t, "%d\t%d\t%s\t%d\t%#x\t%s\t%s\t%s\n", p.GetPid(), p.GetParentPid(), name, p.GetThreadCount(), p.GetDtb(), addr(p.GetEprocess()), created, orDash(p.GetCommandLine()))
		}
		t.Flush()
		truncated(w, resp.GetTruncated())
	})
}

func truncated(w io.Writer, t bool) {
	if t {
		fmt.Fprintln(w, "(list cut short: the guest's list was longer than Frost walks, or broken)")
	}
}

func cmdThreads(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("threads", true)
	pid := fs.Int("pid", -1, "process `id` (default: every process)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	req := &pb.ListThreadsRequest{Vm: c.vm}
	if *pid >= 0 {
		p := uint32(*pid)
		req.Pid = &p
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewProcessServiceClient(cc).ListThreads(ctx, req)
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		t := table(w)
		fmt.Fprintln(t, "TID\tPID\tState\tStart\tETHREAD")
		for _, th := range resp.GetThreads() {
			start := th.GetStartSymbol()
			if start == "" {
				start = addr(th.GetStartAddress())
			}
			fmt.Fprintf(t, "%d\t%d\t%s\t%s\t%s\n", th.GetTid(), th.GetPid(), th.GetState(), start, addr(th.GetEthread()))
		}
		t.Flush()
		truncated(w, resp.GetTruncated())
	})
}

func cmdModules(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("modules", true)
	pid := fs.Int("pid", -1, "process `id`: its DLLs, from its PEB's loader lists cross-checked with its image views\n(default: the kernel's drivers)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	req := &pb.ListModulesRequest{Vm: c.vm, Scope: &pb.ListModulesRequest_Kernel{Kernel: true}}
	if *pid >= 0 {
		req.Scope = &pb.ListModulesRequest_Pid{Pid: uint32(*pid)}
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewProcessServiceClient(cc).ListModules(ctx, req)
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		t := table(w)
		if *pid < 0 {
			fmt.Fprintln(t, "Base\tSize\tName\tPDB\tPath")
			for _, m := range resp.GetModules() {
				fmt.Fprintf(t, "%s\t%#x\t%s\t%s\t%s\n", addr(m.GetBase()), m.GetSize(), m.GetName(), modulePDB(m), m.GetPath())
			}
		} else {
			// ldrmodules' columns: which loader lists name it, and whether
			// an image view maps it; an unlinked image shows "-" in all three.
			fmt.Fprintln(t, "Base\tSize\tName\tLoad\tMem\tInit\tView\tPDB\tPath")
			for _, m := range resp.GetModules() {
				path := m.GetPath()
				if path == "" {
					path = m.GetMappedFile()
				}
				fmt.Fprintf(t, "%s\t%#x\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", addr(m.GetBase()), m.GetSize(), orDash(m.GetName()),
					yesNo(m.GetInLoadOrder()), yesNo(m.GetInMemoryOrder()), yesNo(m.GetInInitOrder()), yesNo(m.GetImageView()), modulePDB(m), path)
			}
		}
		t.Flush()
		truncated(w, resp.GetTruncated())
	})
}

func cmdHandles(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("handles", true)
	pid := fs.Uint("pid", 0, "process `id`")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewProcessServiceClient(cc).ListHandles(ctx, &pb.ListHandlesRequest{Vm: c.vm, Pid: uint32(*pid)})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		t := table(w)
		fmt.Fprintln(t, "Handle\tType\tAccess\tObject\tName")
		for _, h := range resp.GetHandles() {
			fmt.Fprintf(t, "%#x\t%s\t%#x\t%s\t%s\n", h.GetHandle(), h.GetType(), h.GetGrantedAccess(), addr(h.GetObject()), h.GetName())
		}
		t.Flush()
		truncated(w, resp.GetTruncated())
	})
}

func cmdVads(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("vads", true)
	pid := fs.Uint("pid", 0, "process `id`")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewProcessServiceClient(cc).ListVads(ctx, &pb.ListVadsRequest{Vm: c.vm, Pid: uint32(*pid)})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) {
		t := table(w)
		fmt.Fprintln(t, "Start\tEnd\tType\tProtection\tCommit\tFile")
		for _, v := range resp.GetVads() {
			kind := v.GetType()
			if v.GetPrivate() {
				kind += " private"
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%v\t%s\n", addr(v.GetStart()), addr(v.GetEnd()), kind, v.GetProtectionName(), v.GetMemCommit(), v.GetFileName())
		}
		t.Flush()
		truncated(w, resp.GetTruncated())
	})
}

func modulePDB(m *pb.Module) string {
	if p := m.GetPdb(); p != nil {
		return fmt.Sprintf("%s %s-%d", p.GetPdbName(), p.GetGuid(), p.GetAge())
	}
	return "-"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "-"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
