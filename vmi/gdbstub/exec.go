package gdbstub

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Continue resumes every vCPU and returns once the packet is sent: the
// guest then counts as running, and only Interrupt may talk to the stub
// until Wait returns the next stop. (A packet the stub rejects is resent;
// one it never takes ends the connection after ReplyTimeout.) A breakpoint the guest sits on is hit
// again at once; StepOver it first.
func (c *Client) Continue(ctx context.Context) error {
	r := &request{payload: []byte("c"), kind: kindResume}
	if c.vCont["c"] {
		r.payload = []byte("vCont;c")
	}
	if err := c.exchange(ctx, r); err != nil {
		return err
	}
	return r.err
}

// Wait returns the stop the guest is in, waiting for one if it runs. The
// stop carries its vCPU's registers. A guest that was paused when the
// client connected has reported no stop: Wait then returns ErrNoStop
// until Attach.
func (c *Client) Wait(ctx context.Context) (*Stop, error) {
	return c.e.waitStop(ctx, 0)
}

// WaitAfter waits for a stop newer than seq (a Stop.Seq), even when the
// guest is stopped now: an operator may resume it behind Frost's back and
// it may stop again at a breakpoint, which the stub reports unasked.
func (c *Client) WaitAfter(ctx context.Context, seq uint64) (*Stop, error) {
	return c.e.waitStop(ctx, seq)
}

// Interrupt stops a running guest with 0x03 and returns the stop (T02, or
// the breakpoint it hit at the same moment). A stopped guest is left
// alone and its current stop returned.
func (c *Client) Interrupt(ctx context.Context) (*Stop, error) {
	r, err := c.e.interrupt(ctx)
	if err != nil {
		return nil, err
	}
	if !r.sent {
		return c.e.waitStop(ctx, 0)
	}
	return c.e.waitStop(ctx, r.seq)
}

// Step executes one instruction on vCPU th only ("vCont;s:<th>": the other
// vCPUs stay stopped) and returns the stop that ends it. QEMU's step flags
// are set first to ENABLE|NOIRQ|NOTIMER, as far as the stub offers them,
// so the step does not land in an interrupt handler.
func (c *Client) Step(ctx context.Context, th ThreadID) (*Stop, error) {
	stop, _, err := c.step(ctx, th, nil, false)
	return stop, err
}

// StepOver moves vCPU th past the breakpoints at its instruction: a
// breakpoint must be removed to step over it, since "c" or "s" on it
// re-hits it at once. The connection's owner does it in one go: it
// removes them, steps th, and re-inserts them right after the step's
// stop, in the same write as the stop's register read. They stay armed
// as far as the client's bookkeeping is concerned.
//
// When this client armed every one of them, the removals and the step go
// out in one write (one round trip fewer per hit): a removal of a
// breakpoint QEMU accepted does not fail, and if one did all the same,
// the step would only re-hit it without moving, which the caller hears of
// as the removal's error with the stop. A breakpoint the client did not
// arm may well be absent, so the step then waits until every removal
// answered OK (if one did not, nothing is stepped).
func (c *Client) StepOver(ctx context.Context, th ThreadID, bps ...Breakpoint) (*Stop, error) {
	stop, _, err := c.step(ctx, th, bps, false)
	return stop, err
}

// StepOverContinue is StepOver, then Continue, as one exchange: the
// continue goes out in the same write as the step's register read and
// the re-inserts, right when the step's stop comes, so no caller's turn
// (two hand-offs between goroutines and a write) lies between the step
// and the continue of a breakpoint hit. It continues only if the step
// ended cleanly (a trap on th, not someone else's pause, and no failed
// removal or re-insert); continued says whether it did. The stop
// returned is the step's, with its registers, which were read before the
// guest ran on.
func (c *Client) StepOverContinue(ctx context.Context, th ThreadID, bps ...Breakpoint) (stop *Stop, continued bool, err error) {
	return c.step(ctx, th, bps, true)
}

func (c *Client) step(ctx context.Context, th ThreadID, over []Breakpoint, cont bool) (*Stop, bool, error) {
	if th.IsZero() {
		return nil, false, errors.New("gdbstub: a step needs the vCPU to step")
	}
	remove := make([]*request, len(over))
	insert := make([]*request, len(over))
	for i, bp := range over {
		remove[i] = &request{payload: bp.normalized().packet(false)}
		insert[i] = &request{payload: bp.normalized().packet(true)}
	}
	c.sstepMu.Lock()
	defer c.sstepMu.Unlock()
	var flags *request
	if c.sstepFlags != 0 && !c.sstepSet {
		flags = req("Qqemu.sstep=%x", c.sstepFlags)
	}
	step := &request{payload: fmt.Appendf(nil, "vCont;s:%s", th), kind: kindResume, needOK: remove, pipelined: c.allArmed(over)}
	var hc *request
	if !c.vCont["s"] {
		// Without vCont, "s" steps the vCPU that Hc selected.
		hc = req("Hc%s", th)
		step.payload = []byte("s")
	}
	reqs := slices.Clone(remove)
	for _, r := range []*request{flags, hc} {
		if r != nil {
			reqs = append(reqs, r)
		}
	}
	b := newBatch(ctx, append(reqs, step)...)
	b.addAfterStop(insert...)
	var resume *request
	if cont {
		resume = &request{payload: []byte("c"), kind: kindResume, pipelined: true, afterCleanStep: true, stepped: th,
			needOK: append(slices.Clone(remove), insert...)}
		if c.vCont["c"] {
			resume.payload = []byte("vCont;c")
		}
		b.addAfterStop(resume)
	}
	if err := c.e.do(ctx, b); err != nil {
		return nil, false, err
	}
	var errs []error
	for i, r := range remove {
		if err := checkOK(r); err != nil {
			errs = append(errs, &BreakpointError{Op: "remove", Breakpoint: over[i].normalized(), Err: err})
		}
	}
	if flags != nil && checkOK(flags) == nil {
		c.sstepSet = true
	}
	if step.err != nil {
		return nil, false, errors.Join(append(errs, step.err)...) // not sent: the guest did not move
	}
	if step.pipelined && len(errs) > 0 {
		// The step went out with the removals and a removal failed: the
		// stop below is where it ended, likely the same instruction.
		errs = append(errs, fmt.Errorf("gdbstub: stepped with a breakpoint whose removal failed"))
	}
	// The step is done; a failed flags or Hc packet only means it ran with
	// the stub's previous settings, which the caller should hear of along
	// with the stop.
	if flags != nil {
		if err := checkOK(flags); err != nil {
			errs = append(errs, err)
		}
	}
	if hc != nil {
		if err := checkOK(hc); err != nil {
			errs = append(errs, err)
		}
	}
	for i, r := range insert {
		if err := checkOK(r); err != nil {
			errs = append(errs, &BreakpointError{Op: "insert", Breakpoint: over[i].normalized(), Err: err})
		}
	}
	if resume == nil {
		stop, err := c.e.waitStop(ctx, step.seq)
		return stop, false, errors.Join(append(errs, err)...)
	}
	// The batch is done: the step's stop came, its register read was
	// answered (ahead of the re-inserts), and the continue was sent or
	// dropped. The guest may be running, and stopped again, since: the
	// step's stop is the one the owner recorded on the batch.
	stop := b.stop
	if stop == nil {
		return nil, false, errors.Join(append(errs, protocolErr("the step's stop was not recorded"))...)
	}
	continued := resume.err == nil
	if !continued && !errors.Is(resume.err, errNotContinued) {
		errs = append(errs, resume.err)
	}
	return stop, continued, errors.Join(errs...)
}

// allArmed says whether this client armed every breakpoint in bps (and
// there is one): their removals can be pipelined with the step.
func (c *Client) allArmed(bps []Breakpoint) bool {
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	for _, bp := range bps {
		if !c.armed[bp.normalized()] {
			return false
		}
	}
	return len(bps) > 0
}
