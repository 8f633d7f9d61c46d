package breakpoints

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// dropAll forgets every observer and slot, telling each owner why. The
// stub is not touched: callers remove the slots first, or cannot.
func (m *Manager) dropAll(why error) []ID {
	ids := make([]ID, 0, len(m.observers))
	for id, o := range m.observers {
		ids = append(ids, id)
		if o.spec.OnDrop != nil {
			go o.spec.OnDrop(id, why) // in its own goroutine: it may call back into the manager
		}
	}
	slices.Sort(ids)
	m.observers = map[ID]*observer{}
	m.slots = map[uint64]*slot{}
	m.hwUsed = 0
	m.pending, m.suppress = nil, nil
	return ids
}

// removeSlots takes every slot out of the stub, the guest stopped.
func (m *Manager) removeSlots() error {
	if len(m.slots) == 0 {
		return nil
	}
	var errs []error
	err := m.withStopped(func(ctx context.Context) error {
		for addr, s := range m.slots {
			if err := m.t.RemoveBreakpoint(ctx, s.bp); err != nil {
				errs = append(errs, fmt.Errorf("%#x: %w", addr, err))
			}
			m.removed[addr] = time.Now()
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// resetEcho is how close two reset events must be to count as one: no
// guest boots far enough to reset again that fast (mini-NT under TCG
// takes ~0.15 s to its first serial line).
const resetEcho = 100 * time.Millisecond

// reset handles a guest reset: the new boot has a new KASLR base, so
// every breakpoint is removed and its owner told (OnDrop and an
// EventReset); owners re-arm against the new boot.
func (m *Manager) reset(ev vmi.Event) {
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	if !m.lastReset.IsZero() && at.Sub(m.lastReset).Abs() < resetEcho {
		// QEMU reports one reset of mini-NT as several RESET events
		// within milliseconds. Treating the echoes as resets would drop
		// what owners re-armed for the new boot after the first.
		m.log.Debug("reset event repeats the previous one; ignored", "reason", ev.Reason, "after", at.Sub(m.lastReset))
		return
	}
	m.lastReset = at
	if err := m.removeSlots(); err != nil {
		m.log.Error("removing breakpoints at a guest reset", "err", err)
	}
	ids := m.dropAll(ErrReset)
	m.log.Info("guest reset: breakpoints removed", "observers", len(ids), "reason", ev.Reason)
	if m.opts.Reset != nil {
		m.opts.Reset()
	}
	m.publish(Event{Kind: EventReset, Time: ev.Time, Removed: ids, Reason: ev.Reason, Err: ev.Err})
}

// gone ends the manager when the target is gone: nothing can be removed
// or resumed any more.
func (m *Manager) gone(ev vmi.Event) {
	m.end = fmt.Errorf("%w: %v", ErrGone, ev.Err)
	m.dropAll(m.end)
	m.publish(Event{Kind: EventGone, Time: ev.Time, Reason: ev.Reason, Err: ev.Err})
	m.closeSubs()
	m.finished = true
}

// resumedOutside follows a resume Frost did not make: the guest runs, so
// an operator's hold is over (kept, it would stop the guest at the next
// hit until a Resume nobody knows to send), and a hit kept pending for
// that Resume is moot: the guest left it.
func (m *Manager) resumedOutside(ev vmi.Event) {
	m.log.Info("the guest was resumed from outside Frost", "held", m.held, "reason", ev.Reason)
	m.held = false
	m.pending = nil
	m.runState(true)
	m.publish(Event{Kind: EventResumed, Time: ev.Time, Reason: ev.Reason})
}

// shutdown is Close on the loop: remove every breakpoint, resume the
// guest whoever stopped it, end the subscriptions.
func (m *Manager) shutdown() {
	m.held = false
	if err := m.removeSlots(); err != nil {
		m.log.Error("removing breakpoints at close", "err", err)
	}
	m.dropAll(ErrClosed)
	if running, _ := m.t.Running(); !running {
		m.resume()
	}
	m.end = ErrClosed
	m.closeSubs()
	m.finished = true
}

// Close removes every breakpoint, resumes the guest and ends every
// subscription; handlers still running are cut off and their edits
// dropped. The target stays open: it is its creator's to close. Safe to
// call more than once.
func (m *Manager) Close(ctx context.Context) error {
	err := m.do(ctx, func() { m.closing = true })
	if err != nil && (errors.Is(err, ErrClosed) || errors.Is(err, ErrGone)) {
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed once the manager has stopped (Close, or the target gone);
// Err then says why.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Err is ErrClosed or ErrGone once Done is closed, nil before.
func (m *Manager) Err() error {
	select {
	case <-m.done:
		return m.end
	default:
		return nil
	}
}

// Pause stops the guest for its operator and keeps it stopped: hits
// handled meanwhile do not resume it, until Resume. It returns the stop
// the guest is in.
func (m *Manager) Pause(ctx context.Context) (*vmi.Stop, error) {
	stop, _, err := m.PauseHeld(ctx)
	return stop, err
}

// PauseHeld is Pause that also says whether the operator's hold was set
// already (another Pause holds the guest), so that a caller that pauses
// for a while (a consistent dump) can undo exactly what it did: release
// with Release, and resume only a guest that ran.
func (m *Manager) PauseHeld(ctx context.Context) (*vmi.Stop, bool, error) {
	var stop *vmi.Stop
	var was bool
	var err error
	derr := m.do(ctx, func() {
		was = m.held
		m.held = true
		octx, cancel := m.opCtx()
		defer cancel()
		stop, err = m.t.Pause(octx)
		if err != nil {
			// Not paused: a hold the operator does not know of would
			// keep the guest stopped at its next hit until a Resume.
			m.held = was
			return
		}
		m.runState(false)
		if stop != nil && stop.Seq > m.lastSeq && stop.Signal != sigInt {
			m.handleStop(time.Now(), stop) // a hit raced the pause: deliver it, stay stopped
		}
	})
	if derr != nil {
		return nil, false, derr
	}
	return stop, was, err
}

// Resume ends an operator's Pause: a breakpoint hit handled while paused
// is stepped over first.
func (m *Manager) Resume(ctx context.Context) error {
	return m.Release(ctx, true)
}

// Release ends an operator's hold. A hit that came while held is stepped
// over and the guest resumed (the hold was all that kept it); otherwise
// the guest is resumed only if resume is set, so a guest that was stopped
// before the hold (an outside pause, a hit still being handled) is left
// as it was.
func (m *Manager) Release(ctx context.Context, resume bool) error {
	var err error
	derr := m.do(ctx, func() {
		m.held = false
		if m.inHit {
			return // the hit being handled resumes the guest when it is done
		}
		if h := m.pending; h != nil {
			m.pending = nil
			octx, cancel := m.opCtx()
			regs, err := m.t.Registers(octx, h.CPU)
			cancel()
			if err == nil {
				m.stepAndResume(h, regs)
				return
			}
			m.log.Error("reading registers before resuming", "err", err)
		}
		if resume {
			err = m.resume()
		}
	})
	if derr != nil {
		return derr
	}
	return err
}
