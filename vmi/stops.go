package vmi

import (
	"context"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// The stub reports every stop the same way, whether a call asked for it
// (Pause's interrupt, a step) or not (a breakpoint after Resume, an
// operator's QMP stop). The stop pump sees them all, in order; the calls
// that produce a stop claim it, and the pump delivers the rest on Events.

// claims is the set of stops that calls returned to their callers.
type claims struct {
	mu     sync.Mutex
	inCall bool
	ended  chan struct{} // closed when the current call ends
	seqs   map[uint64]bool
}

// begin marks a call in progress: a stop the pump sees now may be its
// answer, so the pump waits for the call to claim it or not.
func (c *claims) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inCall = true
	c.ended = make(chan struct{})
}

// end claims stop (nil: the call produced none) and ends the call.
func (c *claims) end(stop *Stop) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stop != nil {
		if c.seqs == nil {
			c.seqs = map[uint64]bool{}
		}
		c.seqs[stop.Seq] = true
	}
	c.inCall = false
	close(c.ended)
}

// claimed says whether a call took s, once no call is in progress. Claims
// older than s are dropped: the pump has moved past them (it may skip a
// stop when several come before it looks, e.g. step after step).
func (c *claims) claimed(ctx context.Context, s *Stop) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.inCall {
		ended := c.ended
		c.mu.Unlock()
		select {
		case <-ended:
		case <-ctx.Done():
		}
		c.mu.Lock()
		if ctx.Err() != nil {
			return true // closing: deliver nothing more
		}
	}
	took := c.seqs[s.Seq]
	for seq := range c.seqs {
		if seq <= s.Seq {
			delete(c.seqs, seq)
		}
	}
	return took
}

// pumpStops delivers the stops no call claimed, from the one after seq on,
// and the resumes behind Frost's back the control plane learns of, in the
// order they happened, until Close or the connection's end.
func (g *guest) pumpStops(seq uint64) {
	resumes, _ := g.gdb.Resumes()
	for {
		s, n, err := g.gdb.WaitChange(g.ctx, seq, resumes)
		if err != nil {
			return // Close, or the connection ended: watchGone reports it
		}
		if n > resumes {
			resumes = n
			_, why := g.gdb.Resumes()
			g.emit(Event{Kind: EventResumed, Time: time.Now(), Reason: why})
			continue
		}
		seq = s.Seq
		if g.claims.claimed(g.ctx, s) {
			continue
		}
		if s.Stray {
			// Our own request stopped a guest that ran behind our back;
			// the client resumes it (EventResumed follows). Nobody
			// stopped it on purpose.
			continue
		}
		if s.Exited || s.Terminated {
			g.emitShutdown(Event{Kind: EventShutdown, Reason: "gdbstub: " + s.String()})
			continue
		}
		g.emit(Event{Kind: EventStop, Time: time.Now(), Stop: s, Err: s.RegistersErr})
	}
}

// Pause stops the guest. QEMU answers the interrupt with T02; a T05 in its
// place is a breakpoint or step the guest hit first, which belongs to its
// owner too, so it is not claimed and the pump delivers it.
func (g *guest) Pause(ctx context.Context) (*Stop, error) {
	g.ctlMu.Lock()
	defer g.ctlMu.Unlock()
	// A guest believed stopped may have been resumed from outside a
	// moment ago: ask QEMU, or "pause" would return a stale stop and
	// leave it running.
	g.reconcile(ctx, "checked before pausing")
	g.claims.begin()
	stop, err := g.gdb.Interrupt(ctx)
	if stop != nil && stop.Signal != gdbstub.SignalInt {
		g.claims.end(nil)
	} else {
		g.claims.end(stop)
	}
	return stop, g.wrap("pausing", err)
}

func (g *guest) Resume(ctx context.Context) error {
	g.ctlMu.Lock()
	defer g.ctlMu.Unlock()
	return g.wrap("resuming", g.gdb.Continue(ctx))
}

func (g *guest) Step(ctx context.Context, cpu CPU) (*Stop, error) {
	g.ctlMu.Lock()
	defer g.ctlMu.Unlock()
	g.claims.begin()
	stop, err := g.gdb.Step(ctx, cpu)
	g.claims.end(stop)
	return stop, g.wrap("stepping vCPU "+cpu.String(), err)
}

// StepOverResume is StepOver and Resume in one exchange with the stub
// (breakpoints.StepOverResumer): the continue rides in the same write as
// the step's register read and re-inserts, and goes out only if the step
// ended cleanly; resumed says whether it did. A breakpoint hit then costs
// one round trip and two goroutine hand-offs less.
func (g *guest) StepOverResume(ctx context.Context, cpu CPU, at ...Breakpoint) (*Stop, bool, error) {
	g.ctlMu.Lock()
	defer g.ctlMu.Unlock()
	g.claims.begin()
	stop, resumed, err := g.gdb.StepOverContinue(ctx, cpu, at...)
	g.claims.end(stop)
	return stop, resumed, g.wrap("stepping vCPU "+cpu.String()+" over its breakpoint and resuming", err)
}

func (g *guest) StepOver(ctx context.Context, cpu CPU, at ...Breakpoint) (*Stop, error) {
	g.ctlMu.Lock()
	defer g.ctlMu.Unlock()
	g.claims.begin()
	stop, err := g.gdb.StepOver(ctx, cpu, at...)
	g.claims.end(stop)
	return stop, g.wrap("stepping vCPU "+cpu.String()+" over its breakpoint", err)
}
