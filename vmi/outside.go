package vmi

import (
	"context"
	"errors"
	"time"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// The guest has other masters than Frost: an operator's QMP stop and cont,
// virsh suspend and resume, virsh dump (which pauses and resumes). QEMU's
// stub reports an outside pause (a T02 nobody here asked for, flagged
// Stop.Outside) but not a resume, and it stops a running guest on any byte
// it reads; so a Target that kept believing the guest stopped would freeze
// it with its next request. The lifecycle source (QMP's RESUME, libvirt's
// "resumed") hints at each resume, the Target confirms it with QMP
// query-status, and gdbstub.Client.Resync makes the control plane count
// the guest as running. A request that beats the hint stops the guest
// (its guard byte does), and the client resumes it once the request is
// answered (RestoreStrays). Both surface as EventResumed.

// hintResumed is what lifecycle sources emit when they hear of a resume;
// emitLifecycle turns it into a check, never into an event.
const hintResumed EventKind = -1

// reconcileTimeout bounds one query-status (through libvirt 1–7 ms).
const reconcileTimeout = 5 * time.Second

// hintSettle is how long the control plane must sit still before a hint
// is checked. Every resume Frost makes raises one too (QEMU's RESUME
// cannot say who resumed), and a breakpoint loop makes hundreds a
// second; while the control plane moves (stops, resumes of its own), its
// traffic keeps its view current (a request that reaches a guest resumed
// behind its back is a stray stop, undone), so QEMU is asked only once it
// sits still: one query-status, at least 50 ms after the hint.
const hintSettle = 50 * time.Millisecond

// hintResume asks the reconciler to check the run state; hints arriving
// while it checks fold into one more check.
func (g *guest) hintResume(why string) {
	g.hintMu.Lock()
	g.hintWhy = why
	g.hintMu.Unlock()
	select {
	case g.hint <- struct{}{}:
	default:
	}
}

// reconcileLoop runs the checks the lifecycle source asks for, until Close.
func (g *guest) reconcileLoop() {
	for {
		select {
		case <-g.done:
			return
		case <-g.hint:
		}
		if !g.settle() {
			return
		}
		g.hintMu.Lock()
		why := g.hintWhy
		g.hintMu.Unlock()
		ctx, cancel := context.WithTimeout(g.ctx, reconcileTimeout)
		g.reconcile(ctx, why)
		cancel()
	}
}

// settle waits until the control plane has not moved for hintSettle
// (false: the target closed). A hint that came amid traffic is thus
// checked once the traffic stops, not dropped: the stop of an outside
// pause may reach the stub's reader after QMP's RESUME of the resume
// that followed it.
func (g *guest) settle() bool {
	moves := g.gdb.Moves()
	for {
		select {
		case <-g.done:
			return false
		case <-time.After(hintSettle):
		}
		now := g.gdb.Moves()
		if now == moves {
			return true
		}
		moves = now
	}
}

// reconcile makes the control plane's view match QEMU's when the stub
// believes the guest stopped but QEMU runs it. It reports whether the
// guest turned out to be running.
func (g *guest) reconcile(ctx context.Context, why string) bool {
	st, seq := g.gdb.Latest()
	if st != gdbstub.StateStopped || g.mon == nil {
		return st == gdbstub.StateRunning
	}
	status, err := g.mon.QueryStatus(ctx)
	if err != nil || !status.Running {
		return false
	}
	err = g.gdb.Resync(ctx, seq, "QEMU runs the guest ("+status.Status+"), resumed from outside Frost: "+why)
	if errors.Is(err, gdbstub.ErrNotResynced) {
		// A newer stop or our own requests got there first; they settle
		// the state (a stray stop is undone by the client).
		return false
	}
	return err == nil
}
