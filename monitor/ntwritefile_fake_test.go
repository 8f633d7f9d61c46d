package monitor

import (
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The monitor arms NtWriteFile, and Close removes it and ends Events.
func TestWatchArmsAndCloses(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeGuest(t)
	w := f.watch(ctx, Options{})
	if armed := f.tg.Armed(); len(armed) != 1 || armed[0].Addr != f.g.Global("NtWriteFile") {
		t.Fatalf("armed %v", armed)
	}
	if w.Armed().Addr != f.g.Global("NtWriteFile") {
		t.Errorf("Armed %+v", w.Armed())
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Events(); ok {
		t.Error("Events open after Close")
	}
	if armed := f.tg.Armed(); len(armed) != 0 {
		t.Errorf("left armed: %v", armed)
	}
	if err := w.Close(ctx); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// A handler that fails between the stop and the resume (the caller
// cannot be named: no KPCR behind GS) delivers nothing and lets the guest
// run.
func TestHandlerErrorResumes(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeGuest(t)
	w := f.watch(ctx, Options{})
	n := f.tg.Count(vmitest.OpResume)
	f.hitNtWriteFile(ctx)
	f.waitResumed(ctx, n)
	select {
	case e := <-w.Events():
		t.Errorf("an event from a failed handler: %+v", e)
	default:
	}
	if len(f.tg.Armed()) != 1 {
		t.Errorf("the monitor's breakpoint went: %v", f.tg.Armed())
	}
}

// A reset drops the monitor's breakpoint (the old boot's kernel is gone):
// Events ends, so its consumer knows.
func TestResetEndsTheMonitor(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeGuest(t)
	w := f.watch(ctx, Options{})
	f.tg.Reset("guest-reset")
	select {
	case _, ok := <-w.Events():
		if ok {
			t.Error("an event after a reset")
		}
	case <-ctx.Done():
		t.Fatal("Events stays open after a reset")
	}
	if err := w.Close(ctx); err != nil {
		t.Errorf("Close after the reset: %v", err)
	}
}

// A client holds the guest at the monitor's breakpoint and dies (its
// subscription closes without an ack): the guest runs on at once, not
// after the hold's minute, and the monitor keeps its breakpoint.
func TestHoldingClientDiesAndTheGuestRuns(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeGuest(t)
	w := f.watch(ctx, Options{})
	sub := f.mgr.Subscribe(breakpoints.SubscribeOptions{Hold: 10 * time.Minute, Observers: []breakpoints.ID{w.Armed().ID}, Kinds: []breakpoints.EventKind{breakpoints.EventHit}})
	n := f.tg.Count(vmitest.OpResume)
	f.hitNtWriteFile(ctx)
	select {
	case e := <-sub.Events():
		if e.Kind != breakpoints.EventHit {
			t.Fatalf("event %+v", e)
		}
	case <-ctx.Done():
		t.Fatal("the holding client saw no hit")
	}
	if running, _ := f.tg.Running(); running {
		t.Fatal("the guest runs while a client holds it")
	}
	sub.Close() // the client dies holding
	f.waitResumed(ctx, n)
	if len(f.tg.Armed()) != 1 {
		t.Errorf("armed after the client died: %v", f.tg.Armed())
	}
}

// An operator pauses the guest while the monitor watches: the stop is
// not the monitor's, nothing is delivered, and the guest stays paused
// until the operator resumes it.
func TestOutsidePauseIsLeftAlone(t *testing.T) {
	ctx := testCtx(t)
	f := newFakeGuest(t)
	w := f.watch(ctx, Options{})
	n := f.tg.Count(vmitest.OpResume)
	if _, err := f.tg.OutsidePause(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := f.tg.Running(); running || f.tg.Count(vmitest.OpResume) != n {
		t.Error("the monitor resumed a guest an operator paused")
	}
	if len(f.tg.Armed()) != 0 {
		t.Errorf("left armed: %v", f.tg.Armed())
	}
}
