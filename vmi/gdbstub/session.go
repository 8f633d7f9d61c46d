package gdbstub

import (
	"context"
	"errors"
	"fmt"
)

// Attach takes charge of the guest after New: it sends "?", which stops
// it if needed, reports where it stands, and removes every breakpoint in
// the stub, including those a previous client left behind when it died
// (the guest would otherwise keep hitting them with no one to step it on).
// Because "?" removes breakpoints silently, Attach refuses once this
// client has armed any.
func (c *Client) Attach(ctx context.Context) (*Stop, error) {
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	if len(c.armed) > 0 {
		return nil, ErrBreakpointsArmed
	}
	r := &request{payload: []byte("?"), kind: kindStop}
	if err := c.exchange(ctx, r); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	// The reply was handled as a stop, numbered r.seq.
	return c.e.waitStop(ctx, r.seq-1)
}

// Detach leaves the guest running and clean: it stops the guest if it
// runs, removes every breakpoint this client armed, sends "D;1" (with
// multiprocess ids QEMU answers a plain "D" with E22), which resumes the
// guest, and closes the connection. The connection is closed even when a
// step fails; the errors are returned together.
func (c *Client) Detach(ctx context.Context) error {
	defer c.Close()
	// Detach stops the guest on purpose (its guard byte may do so too, if
	// the guest was resumed behind our back): that is no stray to undo.
	c.RestoreStrays(false)
	if st, _ := c.State(); st == StateExited || st == StateClosed {
		return c.Err()
	}
	if _, err := c.Interrupt(ctx); err != nil && !errors.Is(err, ErrNoStop) {
		return fmt.Errorf("gdbstub: detach: stopping the guest: %w", err)
	}
	var errs []error
	c.bpMu.Lock()
	armed := make([]Breakpoint, 0, len(c.armed))
	for bp := range c.armed {
		armed = append(armed, bp)
	}
	if err := c.zBatch(ctx, false, armed); err != nil {
		errs = append(errs, err)
	}
	clear(c.armed)
	c.bpMu.Unlock()
	d := req("D")
	if c.multiprocess {
		d = req("D;1")
	}
	if err := c.exchange(ctx, d); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := checkOK(d); err != nil {
		errs = append(errs, fmt.Errorf("gdbstub: detach: %w", err))
	}
	return errors.Join(errs...)
}
