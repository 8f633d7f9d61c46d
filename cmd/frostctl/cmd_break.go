package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func init() {
	register(
		command{name: "break", args: "(ADDR|'MODULE!NAME') [--process NAME] [--pid N] [--tid N] [--persist] [--stack] [--stop [--exec 'CMD; ...']]",
			short: "set a breakpoint and stream its hits (until ^C, which removes it), or stop at the first and inspect it",
			long: `Sets a breakpoint at an address or at 'module!symbol' (a bare name is the
kernel's, as in WinDbg) and prints each hit: time, process, thread and
registers, until ^C, which removes it. --process, --pid, --tid and --dtb
filter the hits. --persist leaves it set after frostctl exits (see
breakpoints and clear).

--kind chooses how it is armed: auto (the default) lets frostd choose (a
software breakpoint under TCG; under KVM one of the 4 debug registers
while one is free); hardware takes a debug register or fails; software
spares the debug registers but, under KVM, writes 0xCC into guest code,
which the guest (and Windows' kernel patch protection) can see, so frostd
allows it only when started with --allow-software-breakpoints. frostctl
prints the kind armed, and says when the guest can see the breakpoint.

--stop holds the guest at the first hit and gives a prompt (regs, stack,
disasm, read, step, continue), or runs --exec's commands; the guest is
let go however frostctl ends.`,
			example: "frostctl break --vm win10 'nt!NtWriteFile' --process writer.exe\n" +
				"frostctl break --vm win10 'ntdll!NtWriteFile' --pid 420 --stop --exec 'regs; stack; continue'\n" +
				"frostctl break --vm win10 --dtb 1aa000 0x401000\n" +
				"frostctl break --vm win10 'nt!NtCreateFile' --kind hardware --persist",
			minPos: 1, maxPos: 1, vm: true, setup: cmdBreak, complete: completeSymbolArg},
		command{name: "events", args: "[--id N]...", short: "stream hits of the VM's breakpoints",
			long:    "Streams the hits of breakpoints already set (break --persist), every one or those of --id, until ^C.",
			example: "frostctl events --vm win10\nfrostctl events --vm win10 --id 1 --json", maxPos: 0, vm: true, setup: cmdEvents},
		command{name: "breakpoints", short: "list breakpoints",
			long:    "Lists the VM's breakpoints: id, address, symbol, kind, filters and who owns it.",
			example: "frostctl breakpoints --vm win10", maxPos: 0, vm: true, setup: cmdBreakpoints},
		command{name: "clear", args: "ID", short: "remove a breakpoint",
			long:    "Removes a breakpoint by the id breakpoints lists.",
			example: "frostctl clear --vm win10 1", minPos: 1, maxPos: 1, vm: true, setup: cmdClear},
	)
}

// filterFlags are a breakpoint's process, thread and address-space
// filters.
type filterFlags struct{ procs, pids, tids, dtbs multi }

func addFilterFlags(fs *pflag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.Var(&f.procs, "process", "only hits in the process with this image `name` (repeatable)")
	fs.Var(&f.pids, "pid", "only hits in this process `id` (repeatable)")
	fs.Var(&f.tids, "tid", "only hits on this thread `id` (repeatable)")
	fs.Var(&f.dtbs, "dtb", "only hits in the address space of this page-table base (CR3, hex; repeatable). "+
		"One --dtb names a user address's address space on any guest, Windows or not")
	return f
}

func (f *filterFlags) filter() (*pb.BreakpointFilter, error) {
	out := &pb.BreakpointFilter{ProcessNames: f.procs}
	for _, s := range f.pids {
		v, err := parseUint("--pid", s)
		if err != nil {
			return nil, err
		}
		p, err := idU32("--pid", v)
		if err != nil {
			return nil, err
		}
		out.Pids = append(out.Pids, p)
	}
	for _, s := range f.tids {
		v, err := parseUint("--tid", s)
		if err != nil {
			return nil, err
		}
		t, err := idU32("--tid", v)
		if err != nil {
			return nil, err
		}
		out.Tids = append(out.Tids, t)
	}
	for _, s := range f.dtbs {
		v, err := parseAddr("--dtb", s)
		if err != nil {
			return nil, err
		}
		out.Dtbs = append(out.Dtbs, v)
	}
	return out, nil
}

func breakSpec(where string, f *pb.BreakpointFilter, kind pb.BreakpointKind) *pb.BreakpointSpec {
	spec := &pb.BreakpointSpec{Filter: f}
	if strings.Contains(where, "!") {
		spec.Location = &pb.BreakpointSpec_Symbol{Symbol: where}
	} else if v, err := parseAddr("ADDR", where); err == nil {
		spec.Location = &pb.BreakpointSpec_Address{Address: v}
	} else {
		// A bare name means the kernel's, as in WinDbg.
		spec.Location = &pb.BreakpointSpec_Symbol{Symbol: "nt!" + where}
	}
	spec.Kind = kind
	return spec
}

func cmdBreak(c *cli, fs *pflag.FlagSet) runFunc {
	ff := addFilterFlags(fs)
	persist := fs.Bool("persist", false, "leave the breakpoint set after frostctl exits (see clear)")
	kindFlag := fs.String("kind", "auto", "`kind` of breakpoint: auto, hardware (a debug register) or software (0xCC: visible to the guest under KVM)")
	hw := fs.Bool("hw", false, "the same as --kind hardware")
	fs.MarkDeprecated("hw", "use --kind hardware")
	hold := fs.Duration("hold", 0, "hold the guest at each hit until acknowledged, at most this `duration` (frostctl acks after printing)")
	stack := fs.Bool("stack", false, "unwind the call stack at each hit and print it")
	ret := fs.Bool("return", false, "also stop at each hit call's return (same thread; rax holds the result), printed as a return hit")
	stop := fs.Bool("stop", false, "hold the guest at the first hit and give a prompt (regs, stack, disasm, read, step, continue)")
	exec := fs.String("exec", "", "with --stop: run these `commands` (separated by ;) at the hit instead of reading them from stdin")
	maxHold := fs.Duration("max-hold", defaultMaxHold, "with --stop: the longest the guest stays held (frostd lets it go then)")
	return func(ctx context.Context, pos []string) error {
		if err := checkStopFlags(c, *stop, *persist, *hold, *exec, *maxHold); err != nil {
			return err
		}
		filter, err := ff.filter()
		if err != nil {
			return err
		}
		kind, err := breakKind(*kindFlag, *hw, fs.Changed("kind"))
		if err != nil {
			return err
		}
		spec := breakSpec(pos[0], filter, kind)
		spec.BreakOnReturn = *ret
		cc, err := c.client()
		if err != nil {
			return err
		}
		bp := pb.NewBreakpointServiceClient(cc)
		if *persist {
			uctx, cancel := unaryCtx(ctx)
			defer cancel()
			resp, err := bp.SetBreakpoint(uctx, &pb.SetBreakpointRequest{Vm: c.vm, Spec: spec})
			if err != nil {
				return err
			}
			return c.emit(resp, func(w io.Writer) {
				printBreakpoints(w, []*pb.Breakpoint{resp.GetBreakpoint()})
				printArmed(w, resp.GetBreakpoint())
			})
		}
		req := &pb.SubscribeRequest{Vm: c.vm, Breakpoints: []*pb.BreakpointSpec{spec}, Hold: *hold > 0, Stack: *stack}
		if !c.json && !*stop {
			// The line printed per hit shows only these: frostd converts and
			// sends no others. JSON (scripts) and --stop's prompt get all.
			req.Registers = printedRegisters
		}
		if *hold > 0 {
			req.HoldDeadline = durationpb.New(*hold)
		}
		if *stop {
			return c.stopAtFirstHit(ctx, bp, req, *exec, *maxHold)
		}
		return c.subscribe(ctx, bp, req)
	}
}

func cmdEvents(c *cli, fs *pflag.FlagSet) runFunc {
	var ids multi
	fs.Var(&ids, "id", "only this breakpoint `id` (repeatable; default: every breakpoint)")
	return func(ctx context.Context, pos []string) error {
		req := &pb.SubscribeRequest{Vm: c.vm}
		for _, s := range ids {
			v, err := parseUint("--id", s)
			if err != nil {
				return err
			}
			req.BreakpointIds = append(req.BreakpointIds, v)
		}
		cc, err := c.client()
		if err != nil {
			return err
		}
		return c.subscribe(ctx, pb.NewBreakpointServiceClient(cc), req)
	}
}

// subscribe prints hits until the stream ends or the user interrupts;
// with hold it acknowledges each hit once printed.
func (c *cli) subscribe(ctx context.Context, bp pb.BreakpointServiceClient, req *pb.SubscribeRequest) error {
	stream, err := bp.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	var sub uint64
	var last *pb.VMEvent
	for {
		ev, err := stream.Recv()
		if err != nil {
			return streamEnd(ctx, "the breakpoint events of "+req.GetVm(), err, last)
		}
		if err := c.emitLine(ev, func(w io.Writer) { printEvent(w, ev) }); err != nil {
			return err
		}
		if s := ev.GetSubscribed(); s != nil {
			sub = s.GetSubscriptionId()
		}
		if e := ev.GetVmEvent(); e != nil {
			last = e
		}
		if h := ev.GetHit(); h != nil && h.GetHeld() {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := bp.Ack(actx, &pb.AckRequest{Vm: req.GetVm(), SubscriptionId: sub, Sequence: h.GetSequence()})
			cancel()
			if err != nil {
				fmt.Fprintf(c.errOut, "frostctl: ack of hit %d: %s\n", h.GetSequence(), describeError(err))
			}
		}
	}
}

// printedRegisters are the registers a hit's line shows, in the target
// description's order (the order a whole register file comes in).
var printedRegisters = []string{"rax", "rcx", "rdx", "rsp", "r8", "r9", "rip", "cr3"}

func printEvent(w io.Writer, ev *pb.SubscribeResponse) {
	switch e := ev.GetEvent().(type) {
	case *pb.SubscribeResponse_Subscribed:
		fmt.Fprintf(w, "subscribed (#%d); ^C to stop\n", e.Subscribed.GetSubscriptionId())
		printBreakpoints(w, e.Subscribed.GetBreakpoints())
		for _, b := range e.Subscribed.GetBreakpoints() {
			// Those this stream armed (break), not those it listens to
			// (events).
			if b.GetSubscriptionOwned() {
				printArmed(w, b)
			}
		}
	case *pb.SubscribeResponse_Hit:
		h := e.Hit
		where := h.GetSymbol()
		if where == "" {
			where = addr(h.GetAddress())
		}
		what := "hit"
		if h.GetReturnOf() != 0 {
			// The return of a call bp return_of's hit made (at rsp call_rsp).
			what = fmt.Sprintf("return (bp %d's call at rsp %s) to", h.GetReturnOf(), addr(h.GetCallRsp()))
		}
		fmt.Fprintf(w, "%s %s #%d bp %d %s cpu %d pid %d (%s) tid %d",
			h.GetTime().AsTime().Format("15:04:05.000000"), what, h.GetSequence(), h.GetBreakpointId(), where,
			h.GetCpu(), h.GetPid(), h.GetProcessName(), h.GetTid())
		if h.GetDropped() > 0 {
			fmt.Fprintf(w, " (%d missed)", h.GetDropped())
		}
		fmt.Fprintln(w)
		for _, r := range h.GetRegisters().GetRegisters() {
			if slices.Contains(printedRegisters, r.GetName()) {
				fmt.Fprintf(w, "  %s=%016x", r.GetName(), r.GetValue())
			}
		}
		fmt.Fprintln(w)
		if h.GetStack() != nil {
			printStack(w, h.GetStack())
		}
	case *pb.SubscribeResponse_VmEvent:
		fmt.Fprintf(w, "vm: %s %s\n", vmEventName(e.VmEvent), e.VmEvent.GetReason())
	}
}

func printBreakpoints(w io.Writer, bps []*pb.Breakpoint) {
	t := table(w)
	fmt.Fprintln(t, "Id\tAddress\tSymbol\tKind\tVisible\tHits\tFilter")
	for _, b := range bps {
		visible := "no"
		if b.GetVisibleToGuest() {
			visible = "yes"
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", b.GetId(), addr(b.GetAddress()), b.GetSymbol(), kindName(b.GetKind()), visible,
			b.GetHits(), filterText(b.GetSpec().GetFilter()))
	}
	t.Flush()
}

func filterText(f *pb.BreakpointFilter) string {
	var parts []string
	for _, n := range f.GetProcessNames() {
		parts = append(parts, "process="+n)
	}
	for _, p := range f.GetPids() {
		parts = append(parts, fmt.Sprintf("pid=%d", p))
	}
	for _, t := range f.GetTids() {
		parts = append(parts, fmt.Sprintf("tid=%d", t))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func cmdBreakpoints(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ListBreakpointsResponse, error) {
			return pb.NewBreakpointServiceClient(cc).ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: c.vm})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { printBreakpoints(w, resp.GetBreakpoints()) })
	}
}

func cmdClear(c *cli, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, pos []string) error {
		id, err := parseUint("ID", pos[0])
		if err != nil {
			return err
		}
		resp, err := call(ctx, c, func(ctx context.Context, cc *grpc.ClientConn) (*pb.ClearBreakpointResponse, error) {
			return pb.NewBreakpointServiceClient(cc).ClearBreakpoint(ctx, &pb.ClearBreakpointRequest{Vm: c.vm, Id: id})
		})
		if err != nil {
			return err
		}
		return c.emit(resp, func(w io.Writer) { fmt.Fprintf(w, "breakpoint %d removed\n", id) })
	}
}
