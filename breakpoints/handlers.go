package breakpoints

import (
	"context"
	"errors"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// running is one handler at work on a hit.
type running struct {
	frame    *Frame
	cancel   context.CancelFunc
	deadline time.Time
	done     bool
	ok       bool
}

type handlerResult struct {
	i   int
	err error
}

// runHit delivers a hit: the event to subscribers, the handlers started
// concurrently, each with its deadline, then a wait for all of them and
// for the holding subscribers' acks. One-shot observers go first, so a
// handler that re-adds itself is not removed. It returns the registers to
// resume with (the hit's, plus any edits).
func (m *Manager) runHit(h *Hit, matched []*observer) *vmi.Registers {
	ids := make([]ID, len(matched))
	var returnOf []ID
	var call *Hit
	for i, o := range matched {
		ids[i] = o.id
		if o.spec.ReturnOf != 0 {
			returnOf = append(returnOf, o.spec.ReturnOf)
			call = o.call
		}
	}
	holds := m.publish(Event{Kind: EventHit, Time: h.Time, Hit: h, Observers: ids, ReturnOf: returnOf, Call: call})

	results := make(chan handlerResult, len(matched))
	var work []*running
	for _, o := range matched {
		if o.spec.Handler == nil {
			continue
		}
		timeout := o.spec.Timeout
		if timeout == 0 {
			timeout = m.opts.HandlerTimeout
		}
		f := &Frame{Hit: h, Edits: newEdits(h.Regs), ID: o.id, Owner: o.spec.Owner, Call: o.call, m: m}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		r := &running{frame: f, cancel: cancel}
		r.deadline, _ = ctx.Deadline()
		i := len(work)
		work = append(work, r)
		go callHandler(ctx, o.spec.Handler, f, i, results)
	}
	for _, o := range matched {
		if o.spec.OneShot {
			if err := m.detach(o); err != nil {
				m.log.Error("removing a one-shot breakpoint", "id", o.id, "err", err)
			}
		}
	}
	m.stats.hits.Add(1)
	start := time.Now()
	acked := m.await(h, work, holds, results)
	if len(holds) > 0 {
		m.stats.observeHold(time.Since(start))
	}
	return m.apply(h, work, acked)
}

// callHandler runs one handler, turning a panic into an error.
func callHandler(ctx context.Context, fn Handler, f *Frame, i int, out chan<- handlerResult) {
	defer func() {
		if p := recover(); p != nil {
			out <- handlerResult{i, &HandlerError{ID: f.ID, Owner: f.Owner, Addr: f.Addr, Err: ErrHandlerPanic, Panic: p}}
		}
	}()
	out <- handlerResult{i, fn(ctx, f)}
}

// await waits until every handler has finished or run out of time and
// every hold is acked, released or expired. Requests are served
// meanwhile: the guest is stopped, and handlers may need the loop. A
// Close ends the wait at once.
func (m *Manager) await(h *Hit, work []*running, holds []*hold, results <-chan handlerResult) (acked []*hold) {
	finish := func(r *running, err error) {
		if r.done {
			return
		}
		r.done = true
		r.cancel()
		open := r.frame.Edits.seal()
		r.ok = err == nil && open
		if errors.Is(err, ErrClosed) {
			m.log.Info("breakpoint handler cut off by Close; its edits are dropped", "id", r.frame.ID, "owner", r.frame.Owner)
			return
		}
		if err != nil {
			var herr *HandlerError
			if !errors.As(err, &herr) {
				herr = &HandlerError{ID: r.frame.ID, Owner: r.frame.Owner, Addr: h.Addr, Err: err}
			}
			m.log.Warn("breakpoint handler failed; its edits are dropped", "err", herr)
		}
	}
	holdOpen := make([]bool, len(holds))
	keep := make([]bool, len(holds))
	for i := range holds {
		holdOpen[i] = true
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var next time.Time
		waiting := false
		for _, r := range work {
			if r.done {
				continue
			}
			if !now.Before(r.deadline) {
				finish(r, ErrHandlerTimeout)
				continue
			}
			waiting = true
			if next.IsZero() || r.deadline.Before(next) {
				next = r.deadline
			}
		}
		for i, hd := range holds {
			if !holdOpen[i] {
				continue
			}
			if over, ok := hd.state(); over {
				holdOpen[i], keep[i] = false, ok
				continue
			}
			if !now.Before(hd.deadline) {
				hd.sub.expire(hd)
				holdOpen[i] = false
				m.log.Warn("subscriber did not ack in time; the guest moves on", "event", hd.seq)
				continue
			}
			waiting = true
			if next.IsZero() || hd.deadline.Before(next) {
				next = hd.deadline
			}
		}
		if !waiting || m.closing {
			break
		}
		timer.Reset(time.Until(next))
		select {
		case res := <-results:
			finish(work[res.i], res.err)
		case <-timer.C:
		case <-m.kick:
		case req := <-m.reqs:
			m.run(req)
		}
	}
	for _, r := range work {
		finish(r, ErrClosed) // only those still running: Close cut them off
	}
	for i, hd := range holds {
		// Sealed either way: an ack that comes now changes nothing.
		if hd.edits.seal() && keep[i] {
			acked = append(acked, hd)
		} else if holdOpen[i] {
			hd.sub.expire(hd)
		}
	}
	return acked
}

// apply writes the standing edits to the guest: memory first, then one
// register write for the hit's vCPU. The edits of failed handlers are
// dropped, and so are the break-on-return observers they armed.
func (m *Manager) apply(h *Hit, work []*running, acked []*hold) *vmi.Registers {
	var edits []*Edits
	for _, r := range work {
		if r.ok {
			edits = append(edits, r.frame.Edits)
			continue
		}
		r.frame.mu.Lock()
		r.frame.dropped = true
		rets := r.frame.returns
		r.frame.mu.Unlock()
		for _, id := range rets {
			if o := m.observers[id]; o != nil {
				if err := m.detach(o); err != nil {
					m.log.Error("removing a dropped handler's return breakpoint", "id", id, "err", err)
				}
			}
		}
	}
	for _, hd := range acked {
		edits = append(edits, hd.edits)
	}
	final := h.Regs
	changed := false
	ctx, cancel := m.opCtx()
	defer cancel()
	for _, e := range edits {
		for _, w := range e.mem {
			if err := m.t.WritePhysical(ctx, w.gpa, w.data); err != nil {
				m.log.Error("applying a staged memory write failed", "gpa", hexAddr(w.gpa), "len", len(w.data), "err", err)
			}
		}
		if len(e.touched) == 0 {
			continue
		}
		if !changed {
			final, changed = h.Regs.Clone(), true
		}
		if err := e.mergeInto(final); err != nil {
			m.log.Error("merging staged registers failed", "err", err)
		}
	}
	if !changed {
		return h.Regs
	}
	if err := m.t.SetRegisters(ctx, h.CPU, final); err != nil {
		m.log.Error("applying staged registers failed; the guest resumes with its own", "cpu", h.CPU.String(), "err", err)
		return h.Regs
	}
	return final
}
