package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// checkStopFlags refuses the combinations of break's flags that mean
// nothing with --stop (or without it).
func checkStopFlags(c *cli, stop, persist bool, hold time.Duration, exec string, maxHold time.Duration) error {
	if !stop {
		if exec != "" {
			return errors.New("--exec: only with --stop")
		}
		return nil
	}
	switch {
	case persist:
		return errors.New("--stop and --persist: --stop's breakpoint lasts as long as the session")
	case hold > 0:
		return errors.New("--stop holds the guest itself (--max-hold bounds it): leave --hold out")
	case c.json:
		return errors.New("--stop's prompt prints for people: leave --json out (stack, regs and read take --json on their own)")
	case maxHold <= 0:
		return errors.New("--max-hold: must be positive")
	}
	return nil
}

// stopAtFirstHit arms the breakpoint, holds the guest at its first hit and
// runs the prompt there (see held.go for how the guest is let go).
func (c *cli) stopAtFirstHit(ctx context.Context, bp pb.BreakpointServiceClient, req *pb.SubscribeRequest, exec string, maxHold time.Duration) error {
	req.Hold, req.HoldDeadline = true, durationpb.New(hitHold)
	// The subscription outlives ^C until the hold is released politely;
	// while it waits for the hit, ^C ends it at once.
	sctx, cancelSub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSub()
	unwatch := context.AfterFunc(ctx, cancelSub)
	stream, err := bp.Subscribe(sctx, req)
	if err != nil {
		return err
	}
	var sub uint64
	var last *pb.VMEvent
	var hit *pb.BreakpointHit
	for hit == nil {
		ev, err := stream.Recv()
		if err != nil {
			return streamEnd(ctx, "the breakpoint events of "+req.GetVm(), err, last)
		}
		switch e := ev.GetEvent().(type) {
		case *pb.SubscribeResponse_Subscribed:
			sub = e.Subscribed.GetSubscriptionId()
			fmt.Fprintf(c.out, "armed (#%d); waiting for the first hit, ^C to give up\n", sub)
			printBreakpoints(c.out, e.Subscribed.GetBreakpoints())
		case *pb.SubscribeResponse_Hit:
			printEvent(c.out, ev)
			if !e.Hit.GetHeld() {
				return errors.New("frostd delivered the hit without holding the guest")
			}
			hit = e.Hit
		case *pb.SubscribeResponse_VmEvent:
			last = e.VmEvent
			printEvent(c.out, ev)
		}
	}
	if !unwatch() {
		return nil // ^C came with the hit: the subscription is gone, and the hit released with it
	}
	h, err := holdHit(ctx, c, bp, sub, hit, maxHold)
	if err != nil {
		return err
	}
	// Whatever ends the prompt, the subscription goes first (its breakpoint
	// with it, so the guest does not stop there again), then the hold.
	defer h.release(c.out)
	defer cancelSub()
	fmt.Fprintf(c.out, "held at %s (cpu %d, pid %d, tid %d) for at most %s; help lists the commands\n",
		named(h.rip, func(va uint64) string { return h.name(ctx, va) }), h.cpu, hit.GetPid(), hit.GetTid(), maxHold)
	in := c.in
	if in == nil {
		in = os.Stdin
	}
	var lines <-chan string
	interactive := false
	if exec != "" {
		lines = lineSource(execLines(exec), nil)
	} else {
		if f, ok := in.(*os.File); ok {
			interactive = isTerminal(f)
		}
		lines = lineSource(nil, in)
	}
	return h.prompt(ctx, lines, interactive)
}
