package breakpoints

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSlowSubscriberLosesEvents(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	slow := m.Subscribe(SubscribeOptions{Queue: 2})
	fast := m.Subscribe(SubscribeOptions{Queue: 100})
	a, err := m.Add(ctx, Spec{Addr: kfn})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	}
	if got := slow.Lost(); got != 5 {
		t.Errorf("the slow subscriber lost %d events, want 5", got)
	}
	for i := range 2 {
		ev := <-slow.Events()
		if ev.Kind != EventHit || ev.Lost != 0 || len(ev.Observers) != 1 || ev.Observers[0] != a.ID {
			t.Errorf("queued event %d: %+v", i, ev)
		}
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	ev := <-slow.Events()
	if ev.Lost != 5 {
		t.Errorf("the first event after the loss says %d lost, want 5", ev.Lost)
	}
	var seqs []uint64
	for len(fast.Events()) > 0 {
		ev := <-fast.Events()
		seqs = append(seqs, ev.Seq)
		if ev.Lost != 0 {
			t.Errorf("the fast subscriber lost %d", ev.Lost)
		}
	}
	if len(seqs) != 8 {
		t.Errorf("the fast subscriber got %d events, want 8", len(seqs))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Errorf("event numbers %v are not consecutive", seqs)
			break
		}
	}
}

func TestSubscriptionFilters(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	a, _ := m.Add(ctx, Spec{Addr: kfn})
	b, _ := m.Add(ctx, Spec{Addr: kfn2})
	onlyB := m.Subscribe(SubscribeOptions{Observers: []ID{b.ID}})
	onlyStops := m.Subscribe(SubscribeOptions{Kinds: []EventKind{EventStop}})
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn2}))
	if n := len(onlyB.Events()); n != 1 {
		t.Fatalf("subscriber of %d got %d events, want 1", b.ID, n)
	}
	if ev := <-onlyB.Events(); ev.Observers[0] != b.ID || ev.Hit.Addr != kfn2 {
		t.Errorf("got %+v", ev)
	}
	if n := len(onlyStops.Events()); n != 0 {
		t.Errorf("a stop-only subscriber got %d hit events", n)
	}
	_ = a
}

func TestHoldUntilAck(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{Hold: time.Minute})
	f.hit(cpu1, map[string]uint64{"rip": kfn})
	ev := <-sub.Events()
	if !ev.Held || ev.Edits == nil {
		t.Fatalf("event %+v does not hold the guest", ev)
	}
	time.Sleep(20 * time.Millisecond)
	if running, _ := f.Running(); running {
		t.Fatal("the guest ran before the ack")
	}
	if err := ev.Edits.SetRegister("rax", 0x77); err != nil {
		t.Fatal(err)
	}
	if err := sub.Ack(ev.Seq); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	if v := f.reg(cpu1, "rax"); v != 0x77 {
		t.Errorf("rax = %#x after an ack with edits, want 0x77", v)
	}
	if err := sub.Ack(ev.Seq); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a second ack: %v, want ErrNotHeld", err)
	}
}

func TestHoldDeadline(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{Hold: 50 * time.Millisecond})
	start := time.Now()
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	t.Logf("resumed %v after the hit with no ack", time.Since(start))
	ev := <-sub.Events()
	if err := ev.Edits.SetRegister("rax", 1); !errors.Is(err, ErrFrameDone) {
		t.Errorf("staging after the deadline: %v, want ErrFrameDone", err)
	}
	if err := sub.Ack(ev.Seq); !errors.Is(err, ErrNotHeld) {
		t.Errorf("a late ack: %v, want ErrNotHeld", err)
	}
	if f.reg(cpu1, "rax") != 0 {
		t.Error("a late subscriber's edit reached the guest")
	}
}

// TestKilledSubscriber: a client that goes away while holding the guest
// releases it at once, not at its deadline.
func TestKilledSubscriber(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{Hold: time.Hour})
	f.hit(cpu1, map[string]uint64{"rip": kfn})
	ev := <-sub.Events()
	ev.Edits.SetRegister("rax", 1)
	sub.Close()
	f.waitRunning()
	if f.reg(cpu1, "rax") != 0 {
		t.Error("a killed subscriber's edit reached the guest")
	}
	if _, ok := <-sub.Events(); ok {
		t.Error("a closed subscription still delivers")
	}
}

// TestHandlerAddsBreakpoint: a handler may arm and remove breakpoints
// while the guest waits for it.
func TestHandlerAddsBreakpoint(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var added Armed
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, OneShot: true, Handler: func(ctx context.Context, fr *Frame) error {
		var err error
		added, err = m.Add(ctx, Spec{Addr: kfn2, Handler: c.handle})
		return err
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if added.ID == 0 {
		t.Fatal("the handler's Add did not complete")
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn2}))
	if c.n.Load() != 1 {
		t.Errorf("the breakpoint a handler added ran %d times, want 1", c.n.Load())
	}
}
