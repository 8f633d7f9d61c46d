package breakpoints

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

func TestResetRemovesEverything(t *testing.T) {
	f := newFake(t, kvmCaps(t, gdbstub.AccelKVM, false))
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	sub := m.Subscribe(SubscribeOptions{Kinds: []EventKind{EventReset}})
	var mu sync.Mutex
	dropped := map[ID]error{}
	var wg sync.WaitGroup
	onDrop := func(id ID, why error) {
		mu.Lock()
		dropped[id] = why
		mu.Unlock()
		wg.Done()
	}
	var ids []ID
	for i := range 4 {
		wg.Add(1)
		a, err := m.Add(ctx, Spec{Addr: kfn + uint64(i)*0x10, OnDrop: onDrop})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	f.events <- vmi.Event{Kind: vmi.EventReset, Time: time.Now(), Reason: "guest-reset"}
	ev := <-sub.Events()
	if len(ev.Removed) != 4 {
		t.Errorf("reset event lists %v removed, want %v", ev.Removed, ids)
	}
	wg.Wait()
	for _, id := range ids {
		if !errors.Is(dropped[id], ErrReset) {
			t.Errorf("observer %d told %v, want ErrReset", id, dropped[id])
		}
	}
	if armed := f.armedSet(); len(armed) != 0 {
		t.Errorf("still armed in the stub after a reset: %v", armed)
	}
	f.waitRunning()
	// Every debug register is free again for the new boot.
	for i := range 4 {
		if _, err := m.Add(ctx, Spec{Addr: kfn2 + uint64(i)*0x10}); err != nil {
			t.Fatalf("re-arming after the reset: %v", err)
		}
	}
}

func TestCloseRemovesAndResumes(t *testing.T) {
	f := newFake(t, tcgCaps())
	m, err := New(f, Options{Logger: newManagerLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	got := make(chan error, 1)
	if _, err := m.Add(ctx, Spec{Addr: kfn, OnDrop: func(_ ID, why error) { got <- why }}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{})
	if _, err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := f.Running(); !running {
		t.Error("the guest is stopped after Close")
	}
	if armed := f.armedSet(); len(armed) != 0 {
		t.Errorf("armed after Close: %v", armed)
	}
	if why := <-got; !errors.Is(why, ErrClosed) {
		t.Errorf("owner told %v, want ErrClosed", why)
	}
	if _, ok := <-sub.Events(); ok {
		t.Error("subscription open after Close")
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	if err := m.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseDuringHandler: Close while a handler holds the guest cuts the
// handler off and still leaves the guest running and clean.
func TestCloseDuringHandler(t *testing.T) {
	f := newFake(t, tcgCaps())
	m, err := New(f, Options{Logger: newManagerLogger(t), HandlerTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	entered := make(chan struct{})
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		fr.SetRegister("rax", 9)
		close(entered)
		<-ctx.Done()
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	f.hit(cpu1, map[string]uint64{"rip": kfn})
	<-entered
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	if len(f.armedSet()) != 0 || f.reg(cpu1, "rax") != 0 {
		t.Errorf("after Close mid-handler: armed %v, rax %d", f.armedSet(), f.reg(cpu1, "rax"))
	}
}

func TestPauseHoldsAcrossHits(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	entered, release := make(chan struct{}), make(chan struct{})
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		close(entered)
		<-release
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	// The operator pauses while a handler holds the guest at a hit: when
	// the handler is done the guest stays stopped, until Resume steps
	// over the breakpoint it sits on.
	stop := f.hit(cpu1, map[string]uint64{"rip": kfn})
	<-entered
	paused, err := m.Pause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if paused.Seq != stop.Seq {
		t.Errorf("Pause returned %v, want the hit the guest is in", paused)
	}
	_, steps := f.counts()
	close(release)
	time.Sleep(20 * time.Millisecond)
	if running, _ := f.Running(); running {
		t.Fatal("the guest runs while its operator holds it")
	}
	if err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	if _, after := f.counts(); after != steps+1 {
		t.Errorf("Resume did not step over the breakpoint the guest sat on")
	}
}

// TestFailedPauseHoldsNothing: a Pause that fails leaves no hold behind,
// so the next hit is handled and the guest resumed as usual.
func TestFailedPauseHoldsNothing(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.pauseErr = errors.New("stub timed out")
	f.mu.Unlock()
	if _, err := m.Pause(ctx); err == nil {
		t.Fatal("Pause succeeded; the fake was told to fail it")
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
}

func TestForeignStopForwarded(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	sub := m.Subscribe(SubscribeOptions{})
	f.waitRunning()
	f.mu.Lock()
	f.running = false
	f.stop = f.newStop(cpu1, gdbstub.SignalInt) // e.g. QMP stop by libvirt
	stop := f.stop
	f.mu.Unlock()
	f.events <- vmi.Event{Kind: vmi.EventStop, Time: time.Now(), Stop: stop}
	ev := <-sub.Events()
	if ev.Kind != EventStop || ev.Stop != stop {
		t.Fatalf("got %+v, want the stop forwarded", ev)
	}
	if running, _ := f.Running(); running {
		t.Error("the manager resumed a stop someone else made")
	}
	f.mu.Lock()
	f.running = true
	f.mu.Unlock()
	_ = m
}

func TestAddWhileRunning(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	if running, _ := f.Running(); !running {
		t.Error("Add left the guest stopped")
	}
	if f.insertCount() != 1 {
		t.Error("not inserted")
	}
}

func TestTargetGone(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	got := make(chan error, 1)
	if _, err := m.Add(ctx, Spec{Addr: kfn, OnDrop: func(_ ID, why error) { got <- why }}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{})
	f.Close(ctx)
	<-m.Done()
	if !errors.Is(m.Err(), ErrGone) {
		t.Errorf("Err() = %v, want ErrGone", m.Err())
	}
	if why := <-got; !errors.Is(why, ErrGone) {
		t.Errorf("owner told %v", why)
	}
	var kinds []EventKind
	for ev := range sub.Events() {
		kinds = append(kinds, ev.Kind)
	}
	if len(kinds) != 1 || kinds[0] != EventGone {
		t.Errorf("subscriber got %v, want [gone]", kinds)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn}); !errors.Is(err, ErrGone) {
		t.Errorf("Add after gone: %v", err)
	}
}

// TestResumeInsideHandler: an operator's Resume while a handler holds the
// guest does not run the guest under the handler.
func TestResumeInsideHandler(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var runningInside bool
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		if err := m.Resume(ctx); err != nil {
			return err
		}
		runningInside, _ = f.Running()
		return fr.SetRegister("rax", 1)
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if runningInside {
		t.Error("Resume from a handler ran the guest before the hit was done")
	}
	if f.reg(cpu1, "rax") != 1 {
		t.Error("the handler's edit was lost")
	}
	list, err := m.List(ctx)
	if err != nil || len(list) != 1 || list[0].Addr != kfn {
		t.Errorf("List = %+v, %v", list, err)
	}
}

// TestHitRacingPause: Add pauses a running guest, and the pause finds it
// at a breakpoint; the hit is handled once (the Target also sends it on
// Events) and the guest runs on.
func TestHitRacingPause(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.raceHit = map[string]uint64{"rip": kfn}
	f.mu.Unlock()
	if _, err := m.Add(ctx, Spec{Addr: kfn2}); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	// Another hit after it, so the duplicate on Events has surely been
	// read by the time this one is handled.
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn2}))
	if n := c.n.Load(); n != 1 {
		t.Errorf("the raced hit was handled %d times, want 1", n)
	}
}

// TestStaleHitResumed: a hit on an address whose breakpoint was just
// removed is nobody's; the guest runs on, and no one is told of a stop.
func TestStaleHitResumed(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	a, err := m.Add(ctx, Spec{Addr: kfn})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{})
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if n := len(sub.Events()); n != 0 {
		t.Errorf("a stale hit produced %d events", n)
	}
}

func TestShutdownForwarded(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	sub := m.Subscribe(SubscribeOptions{})
	f.events <- vmi.Event{Kind: vmi.EventShutdown, Time: time.Now(), Reason: "guest-shutdown"}
	ev := <-sub.Events()
	if ev.Kind != EventShutdown || ev.Reason != "guest-shutdown" {
		t.Errorf("got %+v", ev)
	}
}

// TestResetEchoesCoalesced: QEMU reports one reset as several events in
// a burst; what an owner re-armed after the first must survive the
// echoes. A later reset counts again.
func TestResetEchoesCoalesced(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	sub := m.Subscribe(SubscribeOptions{Kinds: []EventKind{EventReset}})
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	f.events <- vmi.Event{Kind: vmi.EventReset, Time: at}
	<-sub.Events()
	rearmed, err := m.Add(ctx, Spec{Addr: kfn2})
	if err != nil {
		t.Fatal(err)
	}
	f.events <- vmi.Event{Kind: vmi.EventReset, Time: at.Add(time.Millisecond)}
	f.events <- vmi.Event{Kind: vmi.EventReset, Time: at.Add(2 * time.Millisecond)}
	// Events are handled in order: once this hit is, so are the echoes.
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn2}))
	if _, err := m.Lookup(ctx, rearmed.ID); err != nil {
		t.Fatalf("a reset echo dropped a breakpoint armed for the new boot: %v", err)
	}
	f.events <- vmi.Event{Kind: vmi.EventReset, Time: at.Add(time.Second)}
	<-sub.Events()
	if _, err := m.Lookup(ctx, rearmed.ID); !errors.Is(err, ErrUnknown) {
		t.Errorf("a real second reset kept the breakpoint: %v", err)
	}
	if n := len(sub.Events()); n != 0 {
		t.Errorf("%d extra reset events delivered", n)
	}
}

// TestReleaseAfterRemovingAHeldHitsBreakpoint: a hit waits for its
// operator's hold (PauseHeld taken while the guest sat at the hit, so the
// hold found it stopped), and the breakpoint is removed before the hold
// ends (frostctl break --stop ending its subscription, then its Hold).
// The hit still owes the guest its resume: Release without resume must
// let it run, with no step-over of a breakpoint that is gone.
func TestReleaseAfterRemovingAHeldHitsBreakpoint(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	entered, release := make(chan struct{}), make(chan struct{})
	a, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		close(entered)
		<-release
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.hit(cpu1, map[string]uint64{"rip": kfn})
	<-entered
	if _, was, err := m.PauseHeld(ctx); err != nil || was {
		t.Fatalf("PauseHeld: held before %v, %v", was, err)
	}
	close(release) // the hit is done; the hold keeps the guest at it
	time.Sleep(20 * time.Millisecond)
	if running, _ := f.Running(); running {
		t.Fatal("the guest runs while its operator holds it")
	}
	if err := m.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	_, steps := f.counts()
	if err := m.Release(ctx, false); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	if _, after := f.counts(); after != steps {
		t.Errorf("Release stepped over a breakpoint that was removed")
	}
}
