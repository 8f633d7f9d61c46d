package breakpoints

import (
	"context"
	"errors"
	"testing"
)

// identity is a translator for a guest whose virtual addresses below
// 1 MiB are physical, in any address space.
func identity(ctx context.Context, cr3, va uint64) (uint64, error) {
	if va >= 1<<20 {
		return 0, errors.New("not mapped")
	}
	return va, nil
}

// TestBreakOnReturn: at a function's entry a handler arms a break on its
// return; only the same thread's return, with the stack popped past the
// call's, fires it, and only once.
func TestBreakOnReturn(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{Translate: identity})
	ctx := testCtx(t)
	const callRSP, caller = 0x8000, kfn2
	putLE64(f, callRSP, caller)
	var returns []*Frame
	var armErr error
	if _, err := m.Add(ctx, Spec{Addr: kfn, OneShot: true, Handler: func(ctx context.Context, fr *Frame) error {
		_, armErr = fr.BreakOnReturn(ctx, ReturnSpec{Owner: "verify", Handler: func(ctx context.Context, rf *Frame) error {
			returns = append(returns, rf)
			return rf.SetRegister("rax", 0x5a)
		}})
		return armErr
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": callRSP}))
	if armErr != nil {
		t.Fatal(armErr)
	}
	// Passes through the return address that are not this return.
	f.settle(f.hit(cpu2, map[string]uint64{"rip": caller, "rsp": callRSP + 8}))    // another vCPU
	f.settle(f.hit(cpu1, map[string]uint64{"rip": caller, "rsp": callRSP - 0x40})) // deeper: a nested call
	f.settle(f.hit(cpu1, map[string]uint64{"rip": caller, "rsp": callRSP + 8, "cr3": 0x5000}))
	if len(returns) != 0 {
		t.Fatalf("the return breakpoint fired %d times on other passes", len(returns))
	}
	// The return.
	f.settle(f.hit(cpu1, map[string]uint64{"rip": caller, "rsp": callRSP + 8, "cr3": 0}))
	if len(returns) != 1 || returns[0].Call == nil || returns[0].Call.RSP != callRSP {
		t.Fatalf("return handler calls %d (want 1, with its call)", len(returns))
	}
	if f.reg(cpu1, "rax") != 0x5a {
		t.Error("the return handler's edit was not applied")
	}
	if len(f.armedSet()) != 0 {
		t.Errorf("armed after the one-shot return: %v", f.armedSet())
	}
}

// TestBreakOnReturnDroppedWithEdits: a handler that arms a return and
// then fails takes the return breakpoint with it.
func TestBreakOnReturnDroppedWithEdits(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{Translate: identity})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		if _, err := fr.BreakOnReturn(ctx, ReturnSpec{ReturnAddress: kfn2}); err != nil {
			return err
		}
		return errors.New("failed after arming")
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": 0x8000}))
	for bp := range f.armedSet() {
		if bp.Addr == kfn2 {
			t.Error("the failed handler's return breakpoint is still armed")
		}
	}
}

func TestBreakOnReturnNeedsTranslator(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	got := make(chan error, 1)
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: func(ctx context.Context, fr *Frame) error {
		_, err := fr.BreakOnReturn(ctx, ReturnSpec{})
		got <- err
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": 0x8000}))
	if err := <-got; !errors.Is(err, ErrNoTranslator) {
		t.Errorf("BreakOnReturn without Translate: %v, want ErrNoTranslator", err)
	}
}

// TestReturnHitReachesTheCallsSubscriber: a subscriber that asked for an
// observer's hits also gets the hits at the returns its handler armed,
// marked with the observer and the call; one that asked for another
// observer does not.
func TestReturnHitReachesTheCallsSubscriber(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{Translate: identity})
	ctx := testCtx(t)
	const callRSP, caller = 0x8000, kfn2
	putLE64(f, callRSP, caller)
	entry, err := m.Add(ctx, Spec{Addr: kfn, OneShot: true, Handler: func(ctx context.Context, fr *Frame) error {
		_, err := fr.BreakOnReturn(ctx, ReturnSpec{Owner: "api"})
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	mine := m.Subscribe(SubscribeOptions{Kinds: []EventKind{EventHit}, Observers: []ID{entry.ID}})
	other := m.Subscribe(SubscribeOptions{Kinds: []EventKind{EventHit}, Observers: []ID{entry.ID + 1000}})
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": callRSP}))
	f.settle(f.hit(cpu1, map[string]uint64{"rip": caller, "rsp": callRSP + 8}))
	var got []Event
	for len(got) < 2 {
		select {
		case ev := <-mine.Events():
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatalf("got %d hits, want the call and its return", len(got))
		}
	}
	ret := got[1]
	if ret.Hit.Addr != caller || len(ret.ReturnOf) != 1 || ret.ReturnOf[0] != entry.ID || ret.Call == nil || ret.Call.RSP != callRSP {
		t.Errorf("return hit: addr %#x, ReturnOf %v, call %+v; want %#x, [%d], the call at rsp %#x", ret.Hit.Addr, ret.ReturnOf, ret.Call, uint64(caller), entry.ID, callRSP)
	}
	select {
	case ev := <-other.Events():
		t.Errorf("a subscriber of another observer got %v at %#x", ev.Kind, ev.Hit.Addr)
	default:
	}
}
