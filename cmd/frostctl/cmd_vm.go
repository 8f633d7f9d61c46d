package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{"vms", "", "list libvirt domains", cmdVMs},
		command{"attach", "NAME", "take hold of a running domain", cmdAttach},
		command{"detach", "[--vm NAME]", "let a VM go: breakpoints removed, guest resumed", cmdDetach},
		command{"state", "[--vm NAME] [--find-kernel]", "a VM's state, and Frost's view of it", cmdState},
	)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func domainState(s pb.DomainState) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "DOMAIN_STATE_"), "_", " "))
}

func cmdVMs(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("vms", false)
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).ListDomains(ctx, &pb.ListDomainsRequest{})
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

func cmdAttach(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("attach", false)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).Attach(ctx, &pb.AttachRequest{Name: pos[0]})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { printVM(w, resp.GetVm().GetDomain(), resp.GetVm()) })
}

func cmdDetach(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("detach", true)
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	vm := c.vm
	if len(pos) == 1 {
		vm = pos[0]
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).Detach(ctx, &pb.DetachRequest{Vm: vm})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { fmt.Fprintf(w, "detached %s: breakpoints removed, guest running\n", vm) })
}

func cmdState(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("state", true)
	find := fs.Bool("find-kernel", false, "look for the guest's Windows kernel now, even if an earlier search found none\n(stops a running guest for a moment)")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	cc, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := unaryCtx(ctx)
	defer cancel()
	resp, err := pb.NewVMServiceClient(cc).GetVM(ctx, &pb.GetVMRequest{Vm: c.vm, FindKernel: *find})
	if err != nil {
		return err
	}
	return c.emit(resp, func(w io.Writer) { printVM(w, resp.GetDomain(), resp.GetVm()) })
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
