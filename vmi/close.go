package vmi

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/vmi/qmp"
)

// Close leaves the guest running and clean. The detach (gdbstub.Detach)
// stops the guest if it runs, removes every breakpoint this target armed
// and sends "D;1", which resumes it. Only if that fails while QEMU is still
// there is the guest resumed through QMP instead: a guest left in "debug"
// with nobody attached would stay frozen.
func (g *guest) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		// Stop the pumps first: the detach's own interrupt is no event.
		g.cancel()
		close(g.done)
		g.ctlMu.Lock()
		defer g.ctlMu.Unlock()

		var errs []error
		gone := false
		select {
		case <-g.gdb.Done():
			// Gone already (QEMU exited): there is no guest to leave
			// clean, and Gone told the owner why.
			gone = true
		default:
			errs = append(errs, g.detach(ctx)...)
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
		if g.release != nil {
			// Once QEMU is gone, releasing what lived in it (libvirt's
			// gdbserver) can only fail; the local part still happens.
			if err := g.release(ctx); err != nil && !gone {
				errs = append(errs, fmt.Errorf("vmi: %s: %w", g.name, err))
			}
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// detach detaches the stub, and resumes the guest through QMP if that
// failed.
func (g *guest) detach(ctx context.Context) []error {
	err := g.gdb.Detach(ctx)
	if err == nil {
		return nil
	}
	errs := []error{fmt.Errorf("vmi: %s: detaching: %w", g.name, err)}
	if err := g.resumeThroughQMP(ctx); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// resumeThroughQMP runs a guest the detach left stopped by the stub.
// A guest paused for another reason (an operator's stop) is left alone.
func (g *guest) resumeThroughQMP(ctx context.Context) error {
	st, err := g.mon.QueryStatus(ctx)
	if err != nil {
		return fmt.Errorf("vmi: %s: after a failed detach, asking whether the guest runs: %w", g.name, err)
	}
	if st.Status != qmp.StatusDebug {
		return nil
	}
	if err := g.mon.Cont(ctx); err != nil {
		return fmt.Errorf("vmi: %s: after a failed detach, resuming the guest: %w", g.name, err)
	}
	return nil
}
