package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

var quiet = &Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeSession is a session over a vmitest guest, closed with the test.
func fakeSession(t *testing.T, cfg vmitest.Config) (*Session, *vmitest.Target) {
	t.Helper()
	tg, err := vmitest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(quiet, "fake", "", tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, tg
}

// A hold leaves the guest as it found it: a running guest runs again, a
// stopped one stays stopped, and a guest an operator resumed behind
// Frost's back counts as running.
func TestHoldLeavesTheGuestAsItWas(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	h, err := s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.WasRunning {
		t.Error("a hold of a running guest says it was stopped")
	}
	if running, _ := tg.Running(); running {
		t.Fatal("held, the guest runs")
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("after the release: %v", err)
	}

	// Stopped by an operator: the hold leaves it stopped.
	if _, err := tg.OutsidePause(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitStopped(ctx); err != nil {
		t.Fatal(err)
	}
	h, err = s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.WasRunning {
		t.Error("a hold of an outside-paused guest says it ran")
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := tg.Running(); running {
		t.Error("the release resumed a guest an operator had paused")
	}
}

// A hold while an operator's Pause holds the guest leaves that Pause in
// charge: the release does not resume it.
func TestHoldUnderAPause(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	if _, err := s.Manager().Pause(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := tg.Running(); running {
		t.Fatal("a hold's release undid an operator's Pause")
	}
	if err := s.Manager().Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
}

// The manager's run-state changes reach the session in order: a resume
// (Frost's, or an operator's behind its back) and the stop after it; a
// reset drops the kernel, to be found again for the new boot.
func TestRunStateAndReset(t *testing.T) {
	ctx := ctxT(t)
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// New's manager, with a RunState that records what it tells.
	s := &Session{Name: "fake", Target: tg, cfg: quiet}
	if s.k.hw, err = translate.NewHardware(translate.HardwareConfig{Physical: vmi.ReaderAt(tg)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []bool
	mgr, err := breakpoints.New(tg, breakpoints.Options{
		Logger:   quiet.Log,
		RunState: func(r bool) { mu.Lock(); seen = append(seen, r); mu.Unlock(); s.runState(r) },
		Reset:    s.reset,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mgr = mgr
	t.Cleanup(func() { s.Close(context.Background()) })
	s.UseKernel(&nt.Opened{})
	if err := mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.OutsidePause(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitStopped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.OutsideResume("virsh resume"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three run-state changes", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 3 })
	mu.Lock()
	got := append([]bool(nil), seen[:3]...)
	mu.Unlock()
	if got[0] != true || got[1] != false || got[2] != true {
		t.Errorf("run states %v, want [true false true] (Frost's resume, the outside pause, the outside resume)", got)
	}
	if !s.k.running.Load() {
		t.Error("the session believes the guest stopped after an outside resume")
	}
	tg.Reset("guest-reset")
	waitFor(t, "the kernel to be dropped at the reset", func() bool { return s.FoundKernel() == nil })
}

// A subscription's own breakpoints go with it, and its held hits are
// released: a client that dies while holding never keeps the guest.
func TestSubscriptionCloseLetsGo(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{})
	const addr = 0xfffff80000001000
	sub := s.NewSubscription()
	a, err := sub.Arm(ctx, breakpoints.Spec{Addr: addr, Owner: "test"}, "label")
	if err != nil {
		t.Fatal(err)
	}
	if l := s.ArmedList(); len(l) != 1 || l[0].ID != a.ID || l[0].Sub != sub.ID || l[0].Label != "label" {
		t.Fatalf("armed %+v", l)
	}
	events := sub.Start(breakpoints.SubscribeOptions{Kinds: []breakpoints.EventKind{breakpoints.EventHit}, Observers: []breakpoints.ID{a.ID}, Hold: time.Minute})
	if err := s.Manager().Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Hit(ctx, vmi.CPU{Pid: 1, Tid: 1}, map[string]uint64{"rip": addr}); err != nil {
		t.Fatal(err)
	}
	var ev breakpoints.Event
	select {
	case ev = <-events:
	case <-ctx.Done():
		t.Fatal("no hit")
	}
	if !ev.Held {
		t.Fatal("the hit is not held")
	}
	sub.Held(ev.Seq, ev.Edits)
	s.CountHit(ev.Observers)
	if l := s.ArmedList(); l[0].Hits != 1 {
		t.Errorf("hits %d, want 1", l[0].Hits)
	}
	if running, _ := tg.Running(); running {
		t.Fatal("the guest runs while a subscriber holds it")
	}
	sub.Close() // the client died
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the guest stayed held after its subscriber went: %v", err)
	}
	if l := s.ArmedList(); len(l) != 0 {
		t.Errorf("the subscription's breakpoints outlived it: %+v", l)
	}
	if _, err := s.Subscription(sub.ID); !errors.Is(err, ErrNoSubscription) {
		t.Errorf("a closed subscription is still found: %v", err)
	}
	if err := s.Disarm(ctx, a.ID); !errors.Is(err, ErrNotArmed) {
		t.Errorf("disarming a breakpoint that went with its subscription: %v", err)
	}
}

// Ack stages edits and releases; an edit that fails leaves the hit held
// for a corrected ack; an ack of nothing held says so.
func TestSubscriptionAck(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{})
	const addr = 0xfffff80000002000
	sub := s.NewSubscription()
	defer sub.Close()
	a, err := sub.Arm(ctx, breakpoints.Spec{Addr: addr, Owner: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := sub.Start(breakpoints.SubscribeOptions{Kinds: []breakpoints.EventKind{breakpoints.EventHit}, Observers: []breakpoints.ID{a.ID}, Hold: time.Minute})
	if err := sub.Ack(1, nil); !errors.Is(err, breakpoints.ErrNotHeld) {
		t.Errorf("ack of nothing held: %v", err)
	}
	if err := s.Manager().Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Hit(ctx, vmi.CPU{Pid: 1, Tid: 1}, map[string]uint64{"rip": addr}); err != nil {
		t.Fatal(err)
	}
	ev := <-events
	sub.Held(ev.Seq, ev.Edits)
	bad := errors.New("no such register")
	if err := sub.Ack(ev.Seq, func(*breakpoints.Edits) error { return bad }); !errors.Is(err, bad) {
		t.Fatalf("a failing edit: %v", err)
	}
	if running, _ := tg.Running(); running {
		t.Fatal("a failed ack released the hit")
	}
	if err := sub.Ack(ev.Seq, func(e *breakpoints.Edits) error { return e.SetRegister("rax", 7) }); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := tg.Regs(vmi.CPU{Pid: 1, Tid: 1}).Uint("rax"); v != 7 {
		t.Errorf("rax %d after the ack's edit, want 7", v)
	}
}

// Writes go to the target and tell the translator.
func TestWritesGoThrough(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{})
	if err := s.WritePhysical(ctx, 0x1000, []byte("frost")); err != nil {
		t.Fatal(err)
	}
	if b, _ := tg.Peek(0x1000, 5); string(b) != "frost" {
		t.Errorf("memory %q after WritePhysical", b)
	}
	if err := s.WritePhysical(ctx, 1<<40, []byte("x")); err == nil {
		t.Error("a write past RAM succeeded")
	}
}

// The registry tells a typo from a domain not attached, and refuses a
// second session of one name.
func TestRegistry(t *testing.T) {
	r := NewRegistry(domains{{Name: "win10", UUID: "6F0B0BB6-1A2E-4C3F-9D1E-2A9F5D1C0E11"}, {Name: "mini-nt"}}, nil)
	s, _ := fakeSession(t, vmitest.Config{Name: "win10"})
	s.Name = "win10"
	if err := r.Add(s); err != nil {
		t.Fatal(err)
	}
	var aa *AlreadyAttachedError
	if err := r.Add(s); !errors.As(err, &aa) {
		t.Errorf("a second win10: %v", err)
	}
	if got, err := r.Get("6f0b0bb6-1a2e-4c3f-9d1e-2a9f5d1c0e11"); err != nil || got != s {
		t.Errorf("by UUID: %v, %v", got, err)
	}
	var na *NotAttachedError
	if _, err := r.Get("mini-nt"); !errors.As(err, &na) || !na.IsDomain || na.NoSuchDomain() {
		t.Errorf("a domain not attached: %v", err)
	}
	if _, err := r.Get("win01"); !errors.As(err, &na) || !na.NoSuchDomain() || len(na.Known) != 2 {
		t.Errorf("a typo: %v", err)
	}
	if r.Remove("win10") != s || r.Lookup("win10") != nil {
		t.Error("Remove")
	}
}

type domains []vmi.DomainInfo

func (d domains) Domains(context.Context) ([]vmi.DomainInfo, error) { return d, nil }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A search that finds no Windows kernel is remembered for a while: a
// guest that is not Windows is not stopped again at every refused call.
// A reset forgets it.
func TestKernelMissIsRemembered(t *testing.T) {
	ctx := ctxT(t)
	tg, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	s := withSymbols(t, tg)
	if _, err := s.Kernel(ctx); !errors.Is(err, nt.ErrKernelNotFound) {
		t.Fatalf("first search: %v, want ErrKernelNotFound", err)
	}
	pauses := tg.Count(vmitest.OpPause)
	if pauses == 0 {
		t.Fatal("the search did not stop the guest to look")
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the guest was left stopped after the search: %v", err)
	}
	if _, err := s.Kernel(ctx); !errors.Is(err, nt.ErrKernelNotFound) {
		t.Fatalf("second search: %v", err)
	}
	if n := tg.Count(vmitest.OpPause); n != pauses {
		t.Errorf("the second call stopped the guest again (%d pauses, had %d)", n, pauses)
	}
	tg.Reset("guest-reset")
	waitFor(t, "the reset to forget the miss", func() bool {
		s.k.mu.Lock()
		defer s.k.mu.Unlock()
		return s.k.missedErr == nil
	})
	if _, err := s.Kernel(ctx); !errors.Is(err, nt.ErrKernelNotFound) {
		t.Fatalf("search after the reset: %v", err)
	}
	if n := tg.Count(vmitest.OpPause); n == pauses {
		t.Error("after a reset the kernel was not looked for again")
	}
}

// A search from a vCPU in 64-bit mode with paging that finds no Windows
// kernel stands until a reset or an explicit retry, however long ago it
// was; one from earlier in a boot is retried after kernelRetry.
func TestKernelMissInLongModeStands(t *testing.T) {
	ctx := ctxT(t)
	for _, c := range []struct {
		name    string
		regs    map[string]uint64
		settled bool
	}{
		{"long mode", map[string]uint64{"efer": 0x500, "cr0": 0x80050033, "cs": 0x10, "rip": 0xffffffff81000000}, true},
		{"real mode", map[string]uint64{"cr0": 0x10, "rip": 0xfff0}, false},
		// winload: 64-bit with paging, but running in the low half, with
		// no kernel address to scan from.
		{"a 64-bit loader", map[string]uint64{"efer": 0x500, "cr0": 0x80050033, "cs": 0x10, "rip": 0x10_0000, "rsp": 0x7_0000}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg, err := vmitest.New(vmitest.Config{Running: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := tg.SetRegs(vmi.CPU{Pid: 1, Tid: 1}, c.regs); err != nil {
				t.Fatal(err)
			}
			s := withSymbols(t, tg)
			if ks := s.LastKernelSearch(); ks.Searched {
				t.Fatalf("before any call: %+v", ks)
			}
			if _, err := s.Kernel(ctx); !errors.Is(err, nt.ErrKernelNotFound) {
				t.Fatalf("search: %v, want ErrKernelNotFound", err)
			}
			ks := s.LastKernelSearch()
			if !ks.Searched || ks.UntilReset != c.settled || ks.Err == nil {
				t.Fatalf("after the search: %+v, want settled %v", ks, c.settled)
			}
			// As if the search had been long ago.
			s.k.mu.Lock()
			s.k.missed = s.k.missed.Add(-time.Hour)
			s.k.mu.Unlock()
			pauses := tg.Count(vmitest.OpPause)
			_, err = s.Kernel(ctx)
			searched := tg.Count(vmitest.OpPause) != pauses
			if !errors.Is(err, nt.ErrKernelNotFound) || searched == c.settled {
				t.Errorf("an hour later: %v, searched again %v; want a search only when not settled", err, searched)
			}
			if c.settled && !strings.Contains(err.Error(), "--find-kernel") {
				t.Errorf("the settled miss does not say how to retry: %v", err)
			}
			pauses = tg.Count(vmitest.OpPause)
			if _, err := s.RetryKernel(ctx); !errors.Is(err, nt.ErrKernelNotFound) || tg.Count(vmitest.OpPause) == pauses {
				t.Errorf("RetryKernel: %v, searched %v; want a new search", err, tg.Count(vmitest.OpPause) != pauses)
			}
		})
	}
}

// withSymbols is a session of tg with an (empty) symbol store, so it
// looks for a Windows kernel; it is closed at the test's end.
func withSymbols(t *testing.T, tg *vmitest.Target) *Session {
	t.Helper()
	st, err := store.New(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *quiet
	cfg.Symbols = st
	s, err := New(&cfg, "other-os", "", tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// A guest seen stopped with 5-level paging (CR4.LA57) is not read through
// the 4-level walk: an answer would be wrong, so there is none. A reset
// forgets what was seen.
func TestFiveLevelPagingRefused(t *testing.T) {
	ctx := ctxT(t)
	tg, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.SetRegs(vmi.CPU{Pid: 1, Tid: 1}, map[string]uint64{
		"efer": 0xd01, "cr0": 0x80050033, "cr4": 0x1000 | 0x20, "cs": 0x10, "rip": 0xff11_0000_0000_1000,
	}); err != nil {
		t.Fatal(err)
	}
	s := withSymbols(t, tg)
	if _, err := s.Translator(ctx); !errors.Is(err, ErrFiveLevelPaging) {
		t.Fatalf("Translator with CR4.LA57 set: %v, want ErrFiveLevelPaging", err)
	}
	if err := tg.SetRegs(vmi.CPU{Pid: 1, Tid: 1}, map[string]uint64{"cr4": 0x20}); err != nil {
		t.Fatal(err)
	}
	tg.Reset("guest-reset")
	waitFor(t, "the reset to forget the paging mode", func() bool { return s.k.paging.Load() == pagingUnknown })
	if tr, err := s.RetryKernel(ctx); err == nil || tr != nil {
		t.Fatalf("RetryKernel found a kernel: %v", err)
	}
	if tr, err := s.Translator(ctx); err != nil || tr.Model() != translate.ModelX86 {
		t.Errorf("after a reset into 4-level paging: %v, %v", tr, err)
	}
}
