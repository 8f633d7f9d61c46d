package gdbstub

import (
	"context"
	"errors"
	"fmt"
)

// Continue resumes every vCPU and returns once the stub has taken the
// packet: the guest then runs, and only Interrupt may talk to the stub
// until Wait returns the next stop. A breakpoint the guest sits on is hit
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
	if th.IsZero() {
		return nil, errors.New("gdbstub: Step needs the vCPU to step")
	}
	var setup []*request // answered before the step starts
	c.sstepMu.Lock()
	defer c.sstepMu.Unlock()
	setFlags := c.sstepFlags != 0 && !c.sstepSet
	if setFlags {
		setup = append(setup, req("Qqemu.sstep=%x", c.sstepFlags))
	}
	step := &request{payload: fmt.Appendf(nil, "vCont;s:%s", th), kind: kindResume}
	if !c.vCont["s"] {
		// Without vCont, "s" steps the vCPU that Hc selected.
		setup = append(setup, req("Hc%s", th))
		step.payload = []byte("s")
	}
	if err := c.e.do(ctx, newBatch(ctx, append(setup, step)...)); err != nil {
		return nil, err
	}
	if step.err != nil {
		return nil, step.err // not sent: the guest did not move
	}
	// The step is under way; a failed setup packet only means it ran with
	// the stub's previous flags or vCPU, which the caller should hear of
	// along with the stop.
	var setupErr error
	for _, r := range setup {
		setupErr = errors.Join(setupErr, checkOK(r))
	}
	if setFlags && setupErr == nil {
		c.sstepSet = true
	}
	stop, err := c.e.waitStop(ctx, step.seq)
	return stop, errors.Join(err, setupErr)
}

// StepOver moves vCPU th past the breakpoints at its instruction: it
// removes them, steps th, and re-inserts them, even when the step failed,
// as long as the guest is stopped. A breakpoint must be removed to step
// over it: "c" or "s" on it re-hits it at once.
func (c *Client) StepOver(ctx context.Context, th ThreadID, bps ...Breakpoint) (*Stop, error) {
	if err := c.zBatch(ctx, false, bps); err != nil {
		return nil, err
	}
	stop, stepErr := c.Step(ctx, th)
	if st, _ := c.State(); st != StateStopped {
		return stop, errors.Join(stepErr, fmt.Errorf("gdbstub: step-over left the guest %v; breakpoints not re-inserted", st))
	}
	return stop, errors.Join(stepErr, c.zBatch(ctx, true, bps))
}
