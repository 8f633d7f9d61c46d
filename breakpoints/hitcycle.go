package breakpoints

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	verdicts := m.callOut(hit, s)
	if m.suppressed(hit) {
		m.stepAndResume(hit, regs)
		return
	}
	matched := m.match(hit, s, verdicts)
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
	return h
}

// verdict is a filter's answer, decided ahead of match.
type verdict struct {
	decided bool
	ok      bool
	err     error
}

// callOut names the hit's thread and runs the filters of s's observers
// that call out of the package (thread and process predicates, a
// translator), all in one bounded call: one goroutine and one deadline
// per hit, where the thread and each such filter used to take their own,
// each a hand-off between OS threads that frostd paid for on every hit.
// It sets h.Thread and returns the verdicts by observer index; nil when
// nothing needs to call out. If the call overruns FilterTimeout, the
// thread stays unknown and those filters count as not matching
// (ErrFilterTimeout), as each did on its own before.
func (m *Manager) callOut(h *Hit, s *slot) []verdict {
	calls := func(o *observer) bool {
		f := &o.spec.Filter
		return f.Thread != nil || f.Process != nil || f.Physical != nil
	}
	if m.opts.Threads == nil && !slices.ContainsFunc(s.observers, calls) {
		return nil
	}
	// The goroutine may outlive the deadline: it works on copies, never on
	// the manager's state (the slot's observers may change meanwhile).
	obs := slices.Clone(s.observers)
	hc := *h
	type result struct {
		thread   uint64
		known    bool
		verdicts []verdict
	}
	r, err := bounded(m, func(ctx context.Context) (result, error) {
		var r result
		if m.opts.Threads != nil {
			th, err := m.opts.Threads.CurrentThread(ctx, &hc)
			if err != nil {
				m.log.Debug("cannot name the thread at a hit", "addr", hexAddr(hc.Addr), "err", err)
			} else {
				hc.Thread, hc.ThreadKnown = th, true
				r.thread, r.known = th, true
			}
		}
		r.verdicts = make([]verdict, len(obs))
		for i, o := range obs {
			if !calls(o) || !preMatch(o, &hc) {
				continue
			}
			ok, err := o.spec.Filter.match(ctx, &hc)
			r.verdicts[i] = verdict{decided: true, ok: ok, err: err}
		}
		return r, nil
	})
	if err != nil {
		m.log.Debug("cannot name the thread at a hit", "addr", hexAddr(h.Addr), "err", err)
		out := make([]verdict, len(obs))
		for i, o := range obs {
			if calls(o) {
				out[i] = verdict{decided: true, err: err}
			}
		}
		return out
	}
	h.Thread, h.ThreadKnown = r.thread, r.known
	return r.verdicts
}

// preMatch is what an observer asks of a hit before its filter: the
// return of its call, in its address space.
func preMatch(o *observer, h *Hit) bool {
	if o.call != nil && !(h.RSP > o.call.RSP && h.sameThread(o.call)) {
		return false // not the return of the call it waits for
	}
	if as := o.spec.AddressSpace; as != nil && !as.matches(h.CR3) {
		return false
	}
	return true
}

// match runs the slot's observers' filters, in the order they were
// added; those callOut decided (verdicts, by index) are not run again.
func (m *Manager) match(h *Hit, s *slot, verdicts []verdict) []*observer {
	var out []*observer
	for i, o := range s.observers {
		if !preMatch(o, h) {
			continue
		}
		var ok bool
		var err error
		if i < len(verdicts) && verdicts[i].decided {
			ok, err = verdicts[i].ok, verdicts[i].err
		} else {
			ok, err = m.filter(&o.spec.Filter, h)
		}
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
		if sr, ok := m.t.(StepOverResumer); ok {
			m.stepOverResume(sr, h, s, rip)
			return
		}
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

// StepOverResumer is a target that steps a vCPU over breakpoints and
// resumes the guest in one exchange with the hypervisor (the gdbstub
// sends the continue with the step's register read, as soon as the step's
// stop comes), when the step ended cleanly; resumed says whether it did.
// A target that offers it saves each hit a turn of the manager's loop
// between the step and the resume.
type StepOverResumer interface {
	StepOverResume(ctx context.Context, cpu vmi.CPU, at ...vmi.Breakpoint) (stop *vmi.Stop, resumed bool, err error)
}

// stepOverResume is stepAndResume's step-over and resume through a
// StepOverResumer; a step it did not resume after is resumed here, as
// StepOver's is.
func (m *Manager) stepOverResume(sr StepOverResumer, h *Hit, s *slot, rip uint64) {
	ctx, cancel := m.opCtx()
	m.runState(true)
	step, resumed, err := sr.StepOverResume(ctx, h.CPU, s.bp)
	cancel()
	if err != nil {
		m.log.Error("step-over failed", "addr", hexAddr(rip), "cpu", h.CPU.String(), "err", err)
	} else {
		m.noteStep(h, step)
	}
	if resumed {
		return
	}
	m.runState(false)
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
