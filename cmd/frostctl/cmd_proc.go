package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{name: "ps", short: "processes",
			long:    "Lists the guest's processes from the kernel's process list: pid, parent, name, command line, and whether it has exited.",
			example: "frostctl ps --vm win10\nfrostctl ps --vm win10 --json", maxPos: 0, vm: true, setup: cmdPs},
		command{name: "threads", args: "[--pid N]", short: "threads of one or every process",
			long:    "Lists the threads of one process, or of every process: tid, state, start address.",
			example: "frostctl threads --vm win10 --pid 420", maxPos: 0, vm: true, setup: cmdThreads},
		command{name: "modules", args: "[--pid N]", short: "kernel drivers, or a process's modules",
			long:    "Lists the kernel's loaded drivers, or with --pid a process's images (as its loader lists them) with their PDB identities.",
			example: "frostctl modules --vm win10\nfrostctl modules --vm win10 --pid 420", maxPos: 0, vm: true, setup: cmdModules},
		command{name: "handles", args: "--pid N", short: "a process's handles",
			long:    "Lists a process's handle table: handle, object type, access and name.",
			example: "frostctl handles --vm win10 --pid 420", maxPos: 0, vm: true, setup: cmdHandles},
		command{name: "vads", args: "--pid N", short: "a process's VADs",
			long:    "Lists a process's virtual address descriptors: ranges, protection, and the file each maps.",
			example: "frostctl vads --vm win10 --pid 420", maxPos: 0, vm: true, setup: cmdVads},
	)
}

func cmdPs(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListProcessesResponse, error) {
			return pb.NewProcessServiceClient(cc).ListProcesses(ctx, &pb.ListProcessesRequest{Vm: c.vm})
		})
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
}

func truncated(w io.Writer, t bool) {
	if t {
		fmt.Fprintln(w, "(list cut short: the guest's list was longer than Frost walks, or broken)")
	}
}

func cmdThreads(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "process `id` (default: every process)")
	return func(ctx context.Context, pos []string) error {
		req := &pb.ListThreadsRequest{Vm: c.vm}
		if pidFlag.set {
			p, err := pidFlag.u32()
			if err != nil {
				return err
			}
			req.Pid = &p
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListThreadsResponse, error) {
			return pb.NewProcessServiceClient(cc).ListThreads(ctx, req)
		})
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
}

func cmdModules(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "process `id`: its DLLs, from its PEB's loader lists cross-checked with its image views\n(default: the kernel's drivers)")
	return func(ctx context.Context, pos []string) error {
		cc, err := c.client()
		if err != nil {
			return err
		}
		req := &pb.ListModulesRequest{Vm: c.vm, Scope: &pb.ListModulesRequest_Kernel{Kernel: true}}
		if pidFlag.set {
			pid, err := pidFlag.u32()
			if err != nil {
				return err
			}
			req.Scope = &pb.ListModulesRequest_Pid{Pid: pid}
		}
		ctx, cancel := unaryCtx(ctx)
		defer cancel()
		resp, err := pb.NewProcessServiceClient(cc).ListModules(ctx, req)
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			t := table(w)
			if !pidFlag.set {
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
}

func cmdHandles(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "process `id`")
	return func(ctx context.Context, pos []string) error {
		pid, err := pidFlag.u32()
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListHandlesResponse, error) {
			return pb.NewProcessServiceClient(cc).ListHandles(ctx, &pb.ListHandlesRequest{Vm: c.vm, Pid: pid})
		})
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
}

func cmdVads(c *cli, fs *pflag.FlagSet) runFunc {
	pidFlag := newIDFlag(fs, "pid", "process `id`")
	return func(ctx context.Context, pos []string) error {
		pid, err := pidFlag.u32()
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListVadsResponse, error) {
			return pb.NewProcessServiceClient(cc).ListVads(ctx, &pb.ListVadsRequest{Vm: c.vm, Pid: pid})
		})
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
