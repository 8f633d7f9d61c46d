package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi/vmitest"
)

// waitLeases waits until the session has n live leases (a lapse runs on
// its own timer).
func waitLeases(t *testing.T, ctx context.Context, s *Session, n int) {
	t.Helper()
	for len(s.Leases()) != n {
		select {
		case <-ctx.Done():
			t.Fatalf("still %d leases, want %d", len(s.Leases()), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// A pause whose client never renews it ends by itself: the guest runs
// again after one lease, and renewing the lapsed lease is refused.
func TestPauseLeaseLapses(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	l, stop, was, err := s.PauseLeased(ctx, "client A", 20*time.Millisecond)
	if err != nil || stop == nil || !was || l.ID == "" || l.Holder != "client A" {
		t.Fatalf("PauseLeased = %+v, %v, %v, %v", l, stop, was, err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the guest never ran again after its lease lapsed: %v", err)
	}
	waitLeases(t, ctx, s, 0)
	if _, err := s.RenewPause(l.ID, 0); !errors.Is(err, ErrLeaseEnded) {
		t.Errorf("renewing a lapsed lease: %v, want ErrLeaseEnded", err)
	}
}

// A renewal moves the lapse: a ten-minute lease renewed to a short one
// ends after the short one.
func TestPauseLeaseRenewal(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	l, _, _, err := s.PauseLeased(ctx, "client A", MaxPauseLease)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.RenewPause(l.ID, 20*time.Millisecond); err != nil || r.ID != l.ID || r.Length != 20*time.Millisecond {
		t.Fatalf("RenewPause = %+v, %v", r, err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the renewed lease never lapsed: %v", err)
	}
	if _, err := s.RenewPause("no such lease", 0); !errors.Is(err, ErrLeaseEnded) {
		t.Errorf("renewing an unknown lease: %v", err)
	}
	for _, d := range []time.Duration{-time.Second, MaxPauseLease + time.Second} {
		if _, _, _, err := s.PauseLeased(ctx, "x", d); err == nil {
			t.Errorf("a lease of %v was accepted", d)
		}
	}
}

// The guest stays paused while any lease lives, a lapse leaves a guest
// that was stopped before the pause stopped, and Resume ends every lease.
func TestPauseLeasesTogether(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	if _, _, _, err := s.PauseLeased(ctx, "short", 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	long, _, _, err := s.PauseLeased(ctx, "long", MaxPauseLease)
	if err != nil {
		t.Fatal(err)
	}
	waitLeases(t, ctx, s, 1)
	if running, _ := tg.Running(); running {
		t.Fatal("the guest ran while a lease still held it")
	}
	if err := s.ResumeLeased(ctx); err != nil {
		t.Fatal(err)
	}
	if running, _ := tg.Running(); !running || len(s.Leases()) != 0 {
		t.Fatalf("after Resume: running %v, leases %v", running, s.Leases())
	}
	if _, err := s.RenewPause(long.ID, 0); !errors.Is(err, ErrLeaseEnded) {
		t.Errorf("renewing a lease Resume ended: %v", err)
	}

	// Stopped from outside before the pause: the lapse leaves it so.
	s2, tg2 := fakeSession(t, vmitest.Config{})
	if _, _, was, err := s2.PauseLeased(ctx, "c", 10*time.Millisecond); err != nil || was {
		t.Fatalf("pausing a stopped guest: was running %v, %v", was, err)
	}
	waitLeases(t, ctx, s2, 0)
	if running, _ := tg2.Running(); running {
		t.Error("a lapse resumed a guest that was stopped before the pause")
	}
}

// A lease that runs out while a Hold (a dump) has the guest still waits
// for the hold: the guest is not resumed under the dump, and runs once
// the hold ends.
func TestPauseLeaseWaitsForAHold(t *testing.T) {
	ctx := ctxT(t)
	s, tg := fakeSession(t, vmitest.Config{Running: true})
	l, _, _, err := s.PauseLeased(ctx, "client A", MaxPauseLease)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewPause(l.ID, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the lease has run out meanwhile
	if running, _ := tg.Running(); running {
		t.Fatal("a lapsing lease resumed the guest under a hold")
	}
	if _, err := s.RenewPause(l.ID, 0); !errors.Is(err, ErrLeaseEnded) {
		t.Errorf("renewing a lease that ran out during a hold: %v", err)
	}
	if err := h.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tg.WaitRunning(ctx); err != nil {
		t.Fatalf("the guest never ran after the hold ended: %v", err)
	}
	waitLeases(t, ctx, s, 0)
}
