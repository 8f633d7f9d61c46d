package breakpoints

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/vmi"
)

const (
	sigTrap = vmi.SignalTrap
	sigInt  = vmi.SignalInt
)

// handleStop is one stop from the target, start to resume: is it one of
// ours, who wants it, their handlers and holds, the edits, step-over and
// resume. Every path ends in a resume except a stop that is not ours
// (someone else stopped the guest) and an operator's Pause.
func (m *Manager) handleStop(at time.Time, stop *vmi.Stop) {
	if stop.Seq != 0 && stop.Seq <= m.lastSeq {
		return // already handled: Pause returned it before Events did
	}
	m.lastSeq = stop.Seq
	m.runState(false)
	regs, regsErr := stop.Registers, stop.RegistersErr
	if regs == nil && !stop.Thread.IsZero() {
		ctx, cancel := m.opCtx()
		var err error
		regs, err = m.t.Registers(ctx, stop.Thread)
		cancel()
		if err != nil {
			regs, regsErr = nil, errors.Join(regsErr, err)
		}
	}
	if regs == nil {
		m.log.Error("stop without registers", "stop", stop.String(), "err", regsErr)
		m.publish(Event{Kind: EventStop, Time: at, Stop: stop, Err: regsErr})
		if stop.Signal == sigTrap {
			m.resume() // cannot be matched; a stopped guest helps no one
		}
		return
	}
	rip, _ := regs.Uint("rip")
	s := m.slots[rip]
	if stop.Signal != sigTrap || s == nil {
		if stop.Signal == sigTrap && m.wasRemoved(rip) {
			m.resume() // a hit reported just before its slot went
			return
		}
		m.publish(Event{Kind: EventStop, Time: at, Stop: stop})
		return
	}
	hit := m.newHit(at, stop, regs, rip)
	if m.suppressed(hit) {
		m.stepAndResume(hit, regs)
		return
	}
	matched := m.match(hit, s)
	if len(matched) == 0 {
		m.stepAndResume(hit, regs)
		return
	}
	m.inHit = true
	final := m.runHit(hit, matched)
	m.inHit = false
	if m.closing {
		return // shutdown removes every slot, then resumes
	}
	m.stepAndResume(hit, final)
}

func (m *Manager) newHit(at time.Time, stop *vmi.Stop, regs *vmi.Registers, rip uint64) *Hit {
	h := &Hit{Seq: stop.Seq, Time: at, CPU: stop.Thread, Addr: rip, Regs: regs, Stop: stop}
	if h.CPU.IsZero() {
		h.CPU = regs.Thread
	}
	h.RSP, _ = regs.Uint("rsp")
	h.CR3, _ = regs.Uint("cr3")
	if m.opts.Threads != nil {
		th, err := bounded(m, func(ctx context.Context) (uint64, error) { return m.opts.Threads.CurrentThread(ctx, h) })
		if err != nil {
			m.log.Debug("cannot name the thread at a hit", "addr", hexAddr(rip), "err", err)
		} else {
			h.Thread, h.ThreadKnown = th, true
		}
	}
	return h
}

// match runs the slot's observers' filters, in the order they were
// added.
func (m *Manager) match(h *Hit, s *slot) []*observer {
	var out []*observer
	for _, o := range s.observers {
		if o.call != nil && !(h.RSP > o.call.RSP && h.sameThread(o.call)) {
			continue // not the return of the call it waits for
		}
		if as := o.spec.AddressSpace; as != nil && !as.matches(h.CR3) {
			continue
		}
		ok, err := m.filter(&o.spec.Filter, h)
		if err != nil {
			m.log.Warn("breakpoint filter could not decide; hit not delivered", "id", o.id, "owner", o.spec.Owner, "addr", hexAddr(h.Addr), "err", err)
		}
		if ok {
			out = append(out, o)
		}
	}
	return out
}

// stepAndResume moves the guest on from a hit: step over the breakpoint if
// RIP (after the edits) is still on it, then resume. A RIP moved onto
// another breakpoint is left alone, so that one hits in turn.
func (m *Manager) stepAndResume(h *Hit, regs *vmi.Registers) {
	if m.held {
		m.pending = h
		return
	}
	rip, _ := regs.Uint("rip")
	if s := m.slots[rip]; s != nil && rip == h.Addr {
		ctx, cancel := m.opCtx()
		m.runState(true)
		step, err := m.t.StepOver(ctx, h.CPU, s.bp)
		cancel()
		m.runState(false)
		if err != nil {
			m.log.Error("step-over failed", "addr", hexAddr(rip), "cpu", h.CPU.String(), "err", err)
		} else {
			m.noteStep(h, step)
		}
	}
	m.resume()
}

func hexAddr(a uint64) string { return fmt.Sprintf("%#x", a) }

// filter applies f to h; only a filter that calls out (predicates, a
// translator) pays for running bounded.
func (m *Manager) filter(f *Filter, h *Hit) (bool, error) {
	if f.Thread == nil && f.Process == nil && f.Physical == nil {
		return f.match(context.Background(), h)
	}
	return bounded(m, func(ctx context.Context) (bool, error) { return f.match(ctx, h) })
}
