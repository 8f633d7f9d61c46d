package breakpoints_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// guestRegisters maps the `call` line's keys to target.xml's names.
var guestRegisters = map[string]string{
	"rip": "rip", "cr3": "cr3", "gs-base": "gs_base", "k-gs-base": "k_gs_base", "efer": "efer",
}

// TestIntegrationNtQueryValueKey: through the real vmi.Target, a
// breakpoint on nt!NtQueryValueKey (the kernel base from the guest's
// `kernel` line, the RVA from its PDB) is placed as TCG's invisible Z0;
// its handler sees, at every call, the registers the guest itself prints
// for that call; a one-shot observer on the same slot fires once; a
// subscriber holding the guest until it acks gets every hit; the guest
// reaches ready; and Close leaves it running with no breakpoint.
func TestIntegrationNtQueryValueKey(t *testing.T) {
	rva := kernelRVA(t, "NtQueryValueKey")
	m, tg, mgr := managedBoot(t, minint.Config{Seed: minint.Seed(7)})
	ctx := guestCtx(t)
	// The attach left the guest stopped: let it boot to its kernel line.
	if err := mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	fn := kernelBase(ctx, t, m) + rva

	// Arm with the guest held, so the calls made before are known.
	if _, err := mgr.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	before := serialCount(t, m, "call")
	var mu sync.Mutex
	var hits []*breakpoints.Hit
	armed, err := mgr.Add(ctx, breakpoints.Spec{Addr: fn, Owner: "test", Handler: func(ctx context.Context, f *breakpoints.Frame) error {
		mu.Lock()
		hits = append(hits, f.Hit)
		mu.Unlock()
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if armed.Placement != (breakpoints.Placement{Kind: gdbstub.Software}) || armed.Shared {
		t.Errorf("armed %+v, want a new invisible software breakpoint (TCG)", armed)
	}
	oneShots := 0
	shot, err := mgr.Add(ctx, breakpoints.Spec{Addr: fn, OneShot: true, Owner: "once", Handler: func(context.Context, *breakpoints.Frame) error {
		mu.Lock()
		oneShots++
		mu.Unlock()
		return nil
	}})
	if err != nil || !shot.Shared {
		t.Fatalf("one-shot on the same address: %+v, %v; want the slot shared", shot, err)
	}
	sub := mgr.Subscribe(breakpoints.SubscribeOptions{Observers: []breakpoints.ID{armed.ID}, Hold: 10 * time.Second})
	acked := make(chan int, 1)
	go func() {
		n := 0
		defer func() { acked <- n }()
		for ev := range sub.Events() {
			if ev.Kind != breakpoints.EventHit || ev.Hit.Addr != fn || ev.Lost != 0 {
				t.Errorf("subscriber got %+v", ev)
			}
			if err := sub.Ack(ev.Seq); err != nil {
				t.Errorf("ack: %v", err)
			}
			n++
		}
	}()
	if err := mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatalf("the guest did not reach ready with the breakpoint armed: %v", err)
	}
	if _, err := mgr.Pause(ctx); err != nil { // hold still while comparing
		t.Fatal(err)
	}
	calls := completeReport(t, m).All("call")[before:]
	mu.Lock()
	got := append([]*breakpoints.Hit(nil), hits...)
	shots := oneShots
	mu.Unlock()
	if len(got) == 0 {
		t.Fatal("the breakpoint never hit")
	}
	if len(got) != len(calls) {
		t.Fatalf("%d hits, %d calls made after arming", len(got), len(calls))
	}
	for i, h := range got {
		if h.Addr != fn {
			t.Errorf("hit %d at %#x, want %#x", i, h.Addr, fn)
		}
		for key, name := range guestRegisters {
			want, err := calls[i].Uint(key)
			if err != nil {
				t.Fatal(err)
			}
			have, err := h.Regs.Uint(name)
			if err != nil {
				t.Fatal(err)
			}
			if have != want {
				t.Errorf("hit %d: %s = %#x; the guest printed %s=%#x", i, name, have, key, want)
			}
		}
		if h.CR3 != mustUint(t, calls[i], "cr3") {
			t.Errorf("hit %d: Hit.CR3 %#x differs from the guest's", i, h.CR3)
		}
	}
	if shots != 1 {
		t.Errorf("the one-shot observer ran %d times", shots)
	}
	t.Logf("%d calls of NtQueryValueKey at %#x (%d before arming), each hit with the guest's own rip/cr3/gs_base/k_gs_base/efer", len(got), fn, before)

	writes := serialCount(t, m, "write")
	if err := mgr.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-acked; n != len(got) {
		t.Errorf("the holding subscriber acked %d events, want %d", n, len(got))
	}
	if running, _ := tg.Running(); !running {
		t.Error("the guest is stopped after the manager's Close")
	}
	if _, err := m.WaitSerial(ctx, func(string) bool { return serialCount(t, m, "write") > writes }); err != nil {
		t.Fatalf("the guest did not run on after Close: %v", err)
	}
	// The manager is gone; the target is still usable, with no breakpoint
	// left behind for it.
	if stop, err := tg.Pause(ctx); err != nil || stop.Signal != gdbstub.SignalInt {
		t.Errorf("pause after Close: %v, %v", stop, err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Error(err)
	}
}

func mustUint(t *testing.T, e minint.Event, key string) uint64 {
	t.Helper()
	v, err := e.Uint(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntegrationReset: mini-NT resets itself once during phase 1
// (resetonce). Through the real vmi.Target the manager sees the reset,
// removes the breakpoint armed in the first boot and tells its owner, and
// the second boot (another KASLR base) reaches ready.
//
// The breakpoint goes in before the guest's first instruction, so the
// reset cannot come before it: arming after the kernel line races the
// guest's phase 1. Its address is a kernel-space VA that need not be
// mapped: under TCG a Z0 is QEMU's, not a byte in guest memory.
func TestIntegrationReset(t *testing.T) {
	m, _, mgr := managedBoot(t, minint.Config{Seed: minint.Seed(7), ResetOnce: true})
	ctx := guestCtx(t)
	resets := mgr.Subscribe(breakpoints.SubscribeOptions{Kinds: []breakpoints.EventKind{breakpoints.EventReset}})
	dropped := make(chan error, 1)
	const unmapped = 0xffff_f880_0000_0000
	armed, err := mgr.Add(ctx, breakpoints.Spec{Addr: unmapped, Owner: "first boot",
		OnDrop: func(_ breakpoints.ID, why error) { dropped <- why }})
	if err != nil {
		t.Fatal(err)
	}
	if err := mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	var ev breakpoints.Event
	select {
	case ev = <-resets.Events():
	case <-ctx.Done():
		t.Fatal("no reset event")
	}
	if len(ev.Removed) != 1 || ev.Removed[0] != armed.ID {
		t.Errorf("reset event removed %v, want [%d]", ev.Removed, armed.ID)
	}
	select {
	case why := <-dropped:
		if !errors.Is(why, breakpoints.ErrReset) {
			t.Errorf("owner told %v, want ErrReset", why)
		}
	case <-ctx.Done():
		t.Fatal("the owner was not told")
	}
	if list, err := mgr.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("observers after the reset: %v, %v", list, err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatalf("the second boot did not reach ready: %v", err)
	}
	kernels := completeReport(t, m).All("kernel")
	if len(kernels) != 2 {
		t.Fatalf("%d kernel lines, want 2 (one per boot)", len(kernels))
	}
	t.Logf("reset (%s): kernel at %s, then at %s", ev.Reason, kernels[0].Get("base"), kernels[1].Get("base"))
	if n := len(resets.Events()); n != 0 {
		t.Errorf("%d more reset events for one reset", n)
	}
}

// managedBoot boots mini-NT under a manager, the guest still stopped by
// the attach.
func managedBoot(t *testing.T, cfg minint.Config) (*minint.Machine, vmi.Target, *breakpoints.Manager) {
	t.Helper()
	m, tg := bootTarget(t, cfg)
	mgr, err := breakpoints.New(tg, breakpoints.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(context.Background()) })
	return m, tg, mgr
}

// kernelBase waits for the guest's kernel line and returns its base.
func kernelBase(ctx context.Context, t *testing.T, m *minint.Machine) uint64 {
	t.Helper()
	kernel, err := m.WaitEvent(ctx, "kernel")
	if err != nil {
		t.Fatal(err)
	}
	return mustUint(t, kernel, "base")
}
