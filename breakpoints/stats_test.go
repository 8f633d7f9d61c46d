package breakpoints

import (
	"testing"
	"time"
)

// TestStatsCountHitsAndHolds: an accepted hit is counted; a held one adds
// a hold to HoldTimes once the guest is let go, in a bucket at least as
// long as the time it waited for the ack; an unheld hit adds no hold.
func TestStatsCountHitsAndHolds(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	if _, err := m.Add(ctx, Spec{Addr: kfn}); err != nil {
		t.Fatal(err)
	}
	sub := m.Subscribe(SubscribeOptions{Hold: time.Minute})
	f.hit(cpu1, map[string]uint64{"rip": kfn})
	ev := <-sub.Events()
	const waited = 30 * time.Millisecond
	time.Sleep(waited)
	if err := sub.Ack(ev.Seq); err != nil {
		t.Fatal(err)
	}
	f.waitRunning()
	sub.Close()
	if got := m.Hits(); got != 1 {
		t.Errorf("Hits() = %d after one hit, want 1", got)
	}
	ht := waitHolds(t, m, 1)
	if ht.Sum < waited {
		t.Errorf("hold sum %v, want at least %v", ht.Sum, waited)
	}
	if len(ht.Cumulative) != len(HoldBuckets) || ht.Cumulative[len(ht.Cumulative)-1] != 1 {
		t.Errorf("cumulative counts %v", ht.Cumulative)
	}
	for i, b := range HoldBuckets {
		if b < waited.Seconds() && ht.Cumulative[i] != 0 {
			t.Errorf("a %v hold counted in the %vs bucket", waited, b)
		}
	}

	// An unheld hit: counted, no hold.
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if got := m.Hits(); got != 2 {
		t.Errorf("Hits() = %d after two hits, want 2", got)
	}
	if ht := m.HoldTimes(); ht.Count != 1 {
		t.Errorf("an unheld hit counted as a hold: %+v", ht)
	}
}

// waitHolds waits (bounded) until n holds are counted: the count is taken
// after the guest resumes, a moment after the fake says it runs.
func waitHolds(t *testing.T, m *Manager, n uint64) HoldTimes {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ht := m.HoldTimes()
		if ht.Count >= n || time.Now().After(deadline) {
			if ht.Count != n {
				t.Fatalf("%d holds counted, want %d", ht.Count, n)
			}
			return ht
		}
		time.Sleep(5 * time.Millisecond)
	}
}
