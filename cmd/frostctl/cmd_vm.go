package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{name: "vms", short: "list libvirt domains",
			long:    "Lists the domains libvirt knows on frostd's host: id, name, state, whether Frost is attached, and UUID.",
			example: "frostctl vms\nfrostctl vms --json", maxPos: 0, setup: cmdVMs},
		command{name: "attach", args: "NAME", short: "take hold of a running domain",
			long: `Attaches frostd to a running libvirt domain: its gdbstub, QMP and RAM.
The guest keeps running; Frost finds its Windows kernel when a command first
needs it.`,
			example: "frostctl attach win10", minPos: 1, maxPos: 1, setup: cmdAttach, complete: completeVMArg},
		command{name: "detach", args: "[NAME]", short: "let a VM go: breakpoints removed, guest resumed",
			long: `Lets a VM go: every breakpoint Frost set is removed and the guest runs.
The VM is NAME, else --vm or $FROST_VM.`,
			example: "frostctl detach win10\nfrostctl detach --vm win10", maxPos: 1, setup: cmdDetach, complete: completeVMArg},
		command{name: "state", args: "[--find-kernel]", short: "a VM's state, and Frost's view of it",
			long: `Shows a VM's domain state, whether the guest runs or why it stopped, the
accelerator and its breakpoint slots, the memory backend, and the Windows
kernel Frost found (or why it found none).`,
			example: "frostctl state --vm win10\nFROST_VM=win10 frostctl state --find-kernel", maxPos: 0, vm: true, setup: cmdState},
	)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func domainState(s pb.DomainState) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "DOMAIN_STATE_"), "_", " "))
}

func cmdVMs(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListDomainsResponse, error) {
			return pb.NewVMServiceClient(cc).ListDomains(ctx, &pb.ListDomainsRequest{})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) {
			t := table(w)
			fmt.Fprintln(t, " Id\tName\tState\tAttached\tUUID")
			for _, d := range resp.GetDomains() {
				id := "-"
				if d.GetId() >= 0 {
					id = fmt.Sprint(d.GetId())
				}
				att := ""
				if d.GetAttached() {
					att = "yes"
				}
				fmt.Fprintf(t, " %s\t%s\t%s\t%s\t%s\n", id, d.GetName(), domainState(d.GetState()), att, d.GetUuid())
			}
			t.Flush()
		})
	}
}

func cmdAttach(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.AttachResponse, error) {
			return pb.NewVMServiceClient(cc).Attach(ctx, &pb.AttachRequest{Name: pos[0]})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printVM(w, resp.GetVm().GetDomain(), resp.GetVm()) })
	}
}

func cmdDetach(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		vm := c.vm
		if len(pos) == 1 {
			vm = pos[0]
		}
		if vm == "" {
			return errors.New("no VM named: give NAME, --vm NAME or set FROST_VM")
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.DetachResponse, error) {
			return pb.NewVMServiceClient(cc).Detach(ctx, &pb.DetachRequest{Vm: vm})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { fmt.Fprintf(w, "detached %s: breakpoints removed, guest running\n", vm) })
	}
}

func cmdState(c *cli, fs *pflag.FlagSet) runFunc {
	find := fs.Bool("find-kernel", false, "look for the guest's Windows kernel now, even if an earlier search found none\n(stops a running guest for a moment)")
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.GetVMResponse, error) {
			return pb.NewVMServiceClient(cc).GetVM(ctx, &pb.GetVMRequest{Vm: c.vm, FindKernel: *find})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printVM(w, resp.GetDomain(), resp.GetVm()) })
	}
}

func printVM(w io.Writer, d *pb.Domain, vm *pb.VM) {
	t := table(w)
	fmt.Fprintf(t, "Name:\t%s\n", d.GetName())
	fmt.Fprintf(t, "UUID:\t%s\n", d.GetUuid())
	fmt.Fprintf(t, "State:\t%s\n", domainState(d.GetState()))
	if vm == nil {
		fmt.Fprintf(t, "Attached:\tno\n")
		t.Flush()
		return
	}
	fmt.Fprintf(t, "Attached:\tyes\n")
	run := "running"
	if !vm.GetRunning() {
		run = "stopped"
		if s := vm.GetStop(); s != nil {
			run += fmt.Sprintf(" (cpu %d, %s)", s.GetCpu(), strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.GetReason().String(), "STOP_REASON_")), "_", " "))
		}
	}
	fmt.Fprintf(t, "Guest:\t%s\n", run)
	fmt.Fprintf(t, "Accelerator:\t%s\n", strings.ToLower(strings.TrimPrefix(vm.GetAccelerator().String(), "ACCELERATOR_")))
	slots := "unlimited"
	if n := vm.GetHardwareBreakpointSlots(); n > 0 {
		slots = fmt.Sprint(n)
	}
	fmt.Fprintf(t, "HW breakpoint slots:\t%s\n", slots)
	fmt.Fprintf(t, "SW breakpoints visible:\t%v\n", vm.GetSoftwareBreakpointsVisible())
	if m := vm.GetMemoryBackend(); m != "" {
		fmt.Fprintf(t, "Memory:\t%s\n", m)
	}
	if k := vm.GetKernel(); k != nil {
		fmt.Fprintf(t, "Kernel:\t%s (%s %s-%d)\n", addr(k.GetBase()), k.GetPdb().GetPdbName(), k.GetPdb().GetGuid(), k.GetPdb().GetAge())
		if v := k.GetVersion(); v != "" {
			fmt.Fprintf(t, "Windows:\t%s\n", v)
		}
		if k.GetSystemTime() != nil {
			fmt.Fprintf(t, "Guest clock:\t%s UTC, up %v\n", k.GetSystemTime().AsTime().Format(time.DateTime), k.GetUptime().AsDuration().Round(time.Second))
		}
	} else if ks := vm.GetKernelSearch(); ks != nil {
		fmt.Fprintf(t, "Kernel:\t%s\n", kernelSearch(ks))
	}
	t.Flush()
}

// kernelSearch says what Frost knows of a guest's Windows kernel while it
// has none.
func kernelSearch(ks *pb.KernelSearch) string {
	if !ks.GetSearched() {
		return "not looked for yet (the first call that needs Windows looks)"
	}
	s := "no Windows kernel found, " + ks.GetAt().AsTime().Local().Format("15:04:05") + ": " + ks.GetError()
	if ks.GetUntilReset() {
		return s + "; not looked for again until the guest resets or `state --find-kernel`"
	}
	return s + "; looked for again after " + ks.GetRetryAfter().AsTime().Local().Format("15:04:05")
}
