package vmi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/qmp"
)

// Close leaves the guest running and clean. The detach (gdbstub.Detach)
// stops the guest if it runs, removes every breakpoint this target armed
// and sends "D;1", which resumes it. If the target's connection failed or
// is gone while QEMU still runs, a new connection removes the breakpoints
// and detaches instead (see detachStub): a guest left in "debug", or one that
// would stop at a leftover breakpoint, with nobody attached, stays frozen.
//
// The cleanup runs to its end even if ctx ends first (it is bounded by
// closeTimeout instead): a detach cut short would leave the guest frozen
// with nobody attached.
func (g *guest) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		// Stop the pumps first: the detach's own interrupt is no event.
		g.cancel()
		close(g.done)
		g.ctlMu.Lock()
		defer g.ctlMu.Unlock()

		var errs []error
		gone := false
		select {
		case <-g.gdb.Done():
			if g.back.alive != nil && g.back.alive(ctx) {
				// The connection died under QEMU (poisoned, reset):
				// its breakpoints are still armed.
				errs = append(errs, g.stub.recover(ctx, g.caps)...)
			} else {
				// QEMU exited: there is no guest to leave clean, and
				// Gone told the owner why.
				gone = true
			}
		default:
			errs = append(errs, detachStub(ctx, g.stub, g.gdb, g.caps)...)
		}
		g.pumps.Wait()
		g.emitMu.Lock()
		if !g.eventsClosed {
			g.eventsClosed = true
			close(g.events)
		}
		g.emitMu.Unlock()
		if err := g.mem.Close(); err != nil {
			errs = append(errs, fmt.Errorf("vmi: %s: %w", g.name, err))
		}
		if g.back.release != nil {
			// Once QEMU is gone, releasing what lived in it (libvirt's
			// gdbserver) can only fail; the local part still happens.
			if err := g.back.release(ctx); err != nil && !gone {
				errs = append(errs, fmt.Errorf("vmi: %s: %w", g.name, err))
			}
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// closeTimeout bounds Close's cleanup: a few stub and QMP round trips,
// or a libvirt passthrough call or two.
const closeTimeout = 30 * time.Second

// detachStub detaches gdb, the connection to ep's stub. If that fails (a
// poisoned connection), a fresh connection does what a new owner would:
// its attach ("?") removes every breakpoint, then it detaches. Only if
// that fails too is the guest resumed through QMP, which may leave
// breakpoints for it to stop at again. Close and a failed open both leave
// the guest this way.
func detachStub(ctx context.Context, ep stubEndpoint, gdb *gdbstub.Client, caps Capabilities) []error {
	err := gdb.Detach(ctx)
	if err == nil {
		return nil
	}
	rerrs := ep.recover(ctx, caps)
	if rerrs == nil {
		return nil // clean and running after all
	}
	return append([]error{fmt.Errorf("vmi: %s: detaching: %w", ep.name, err)}, rerrs...)
}

// recover leaves the guest clean and running without a connection of
// ours: through a new one, or failing that through QMP.
func (ep stubEndpoint) recover(ctx context.Context, caps Capabilities) []error {
	err := ep.redetach(ctx, caps)
	if err == nil {
		return nil
	}
	errs := []error{fmt.Errorf("vmi: %s: detaching through a new connection: %w", ep.name, err)}
	if err := ep.resumeThroughQMP(ctx); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// redetach connects to the stub again, clears every breakpoint and
// detaches.
func (ep stubEndpoint) redetach(ctx context.Context, caps Capabilities) error {
	if ep.address == "" {
		return errors.New("no stub address")
	}
	c, err := gdbstub.Dial(ctx, ep.network, ep.address, gdbstub.Config{Capabilities: caps})
	if err != nil {
		return err
	}
	if _, err := c.Attach(ctx); err != nil {
		c.Close()
		return err
	}
	return c.Detach(ctx)
}

// resumeThroughQMP runs a guest the detach left stopped by the stub.
// A guest paused for another reason (an operator's stop) is left alone.
func (ep stubEndpoint) resumeThroughQMP(ctx context.Context) error {
	st, err := ep.mon.QueryStatus(ctx)
	if err != nil {
		return fmt.Errorf("vmi: %s: after a failed detach, asking whether the guest runs: %w", ep.name, err)
	}
	if st.Status != qmp.StatusDebug {
		return nil
	}
	if err := ep.mon.Cont(ctx); err != nil {
		return fmt.Errorf("vmi: %s: after a failed detach, resuming the guest: %w", ep.name, err)
	}
	return nil
}
