package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// break --stop holds the guest at the first hit for as long as the person
// at the prompt needs, and lets it go whenever frostctl ends, however it
// ends. Two server-side holds do it, each ended by frostd when its stream
// ends, so nothing of frostctl's has to run for the guest to go:
//
//  1. The subscription holds the hit (hold, at most frostd's 30 s): a
//     client killed before step 2 loses its stream, and frostd releases
//     the hit and removes the stream's breakpoint.
//  2. A Hold stream (CPUService.Hold, --max-hold, 10 min by default) is
//     opened while the hit is held, and only then is the hit acked. The
//     breakpoint manager keeps a guest its operator holds stopped at a hit
//     acked meanwhile (the hit waits, pending, for the hold's release,
//     which steps over it and resumes). The 30 s of the hit no longer
//     count; the Hold's maximum does.
//
// A killed frostctl (SIGKILL) closes its socket: frostd sees both streams
// end at once, releases the Hold (stepping over the pending hit, resuming)
// and removes the breakpoint. ^C, EOF, continue and quit end them politely
// (release below). A client that vanishes without its socket closing (a
// lost TCP peer) holds the guest until --max-hold at most.

// defaultMaxHold bounds a stop-and-inspect session: frostd's own default
// for a Hold.
const defaultMaxHold = 10 * time.Minute

// hitHold is how long the subscription holds the hit while the Hold
// starts: frostd's maximum, since a loaded machine may need it.
const hitHold = 30 * time.Second

// releaseWait bounds the wait for frostd to say the guest is released.
const releaseWait = 15 * time.Second

// heldHit is the guest held at one breakpoint hit.
type heldHit struct {
	c      *cli
	vm     string
	hit    *pb.BreakpointHit
	cpu    uint32
	cpuSvc pb.CPUServiceClient
	sym    pb.SymbolServiceClient
	mem    pb.MemoryServiceClient

	// cr3 is the hit's address space, where read and disasm look.
	cr3 uint64
	// rip is where the vCPU is now (the hit, or after steps).
	rip uint64

	hold       pb.CPUService_HoldClient
	cancelHold context.CancelFunc
	// ended gets the Hold's last message (or its error) when frostd ends
	// it first (the maximum passed, the VM went away).
	ended   chan holdEnd
	names   map[uint64]string
	endSeen bool
}

type holdEnd struct {
	resp *pb.HoldResponse
	err  error
}

// holdHit turns the subscription's hold of hit into a Hold stream of at
// most maxHold, then acks the hit. On error the caller's cleanup (ending
// the subscription) lets the guest go.
func holdHit(ctx context.Context, c *cli, bp pb.BreakpointServiceClient, sub uint64, hit *pb.BreakpointHit, maxHold time.Duration) (*heldHit, error) {
	cc, err := c.client()
	if err != nil {
		return nil, err
	}
	h := &heldHit{
		c: c, vm: c.vm, hit: hit, cpu: hit.GetCpu(),
		cpuSvc: pb.NewCPUServiceClient(cc), sym: pb.NewSymbolServiceClient(cc), mem: pb.NewMemoryServiceClient(cc),
		ended: make(chan holdEnd, 1), names: map[uint64]string{},
	}
	regs := regMap(hit.GetRegisters())
	h.cr3, h.rip = regs["cr3"], hit.GetAddress()
	if r, ok := regs["rip"]; ok {
		h.rip = r
	}
	// The Hold lives in a context of its own: ^C must not cut it, or the
	// guest would go before frostctl says so.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancelHold = cancel
	h.hold, err = h.cpuSvc.Hold(hctx)
	if err == nil {
		err = h.hold.Send(&pb.HoldRequest{Vm: c.vm, MaxDuration: durationpb.New(maxHold)})
	}
	var first *pb.HoldResponse
	if err == nil {
		first, err = h.hold.Recv()
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("holding the guest at the hit: %w", err)
	}
	if first.GetWasRunning() {
		// The hit's hold ran out before the Hold began: the guest moved on
		// and the Hold stopped it elsewhere. Inspecting it would mislead.
		h.release(io.Discard)
		return nil, errors.New("the guest left the hit before frostctl could hold it (the hit's hold expired): try again")
	}
	go h.watch()
	actx, acancel := unaryCtx(ctx)
	defer acancel()
	if _, err := bp.Ack(actx, &pb.AckRequest{Vm: c.vm, SubscriptionId: sub, Sequence: hit.GetSequence()}); err != nil {
		h.release(io.Discard)
		return nil, fmt.Errorf("acknowledging the hit: %w", err)
	}
	return h, nil
}

// watch waits for the Hold's end from frostd's side.
func (h *heldHit) watch() {
	for {
		r, err := h.hold.Recv()
		if err != nil || r.GetReleased() || r.GetExpired() || r.GetReleaseError() != "" {
			h.ended <- holdEnd{resp: r, err: err}
			return
		}
	}
}

// endedText says how frostd ended the Hold.
func endedText(e holdEnd) string {
	switch {
	case e.resp.GetExpired():
		return "the hold reached its maximum (--max-hold) and frostd let the guest go"
	case e.resp.GetReleaseError() != "":
		return "frostd ended the hold and could not let the guest go: " + e.resp.GetReleaseError()
	case e.err != nil && !errors.Is(e.err, io.EOF):
		return "the hold ended: " + describeError(e.err)
	}
	return "frostd ended the hold; the guest runs"
}

// release ends the Hold and waits for frostd to say the guest runs again
// (or is as it was found). It prints the outcome on w.
func (h *heldHit) release(w io.Writer) {
	defer h.cancelHold()
	if h.endSeen {
		return
	}
	h.endSeen = true
	if err := h.hold.CloseSend(); err != nil {
		fmt.Fprintf(w, "ending the hold: %s\n", describeError(err))
		return
	}
	select {
	case e := <-h.ended:
		switch {
		case e.resp.GetReleased():
			fmt.Fprintln(w, "released: the guest runs")
		case e.resp.GetReleaseError() != "":
			fmt.Fprintf(w, "frostd could not let the guest go: %s\n", e.resp.GetReleaseError())
		default:
			fmt.Fprintf(w, "%s\n", endedText(e))
		}
	case <-time.After(releaseWait):
		// Cancelling the stream (deferred) still makes frostd release it.
		fmt.Fprintln(w, "frostd did not confirm the release in time; the hold is cancelled")
	}
}

// regMap is a register file by name.
func regMap(r *pb.Registers) map[string]uint64 {
	m := make(map[string]uint64, len(r.GetRegisters()))
	for _, reg := range r.GetRegisters() {
		if len(reg.GetRaw()) <= 8 {
			m[reg.GetName()] = reg.GetValue()
		}
	}
	return m
}
