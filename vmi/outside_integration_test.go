package vmi

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// TestOutsidePauseResume: an operator pauses and resumes the guest behind
// Frost's back (QMP stop and cont on QEMU's first monitor, as virsh suspend
// and resume do). Frost reports the outside pause as such, follows the
// resume, and none of its calls leaves the guest stopped: the guest's
// serial advances after each one.
func TestOutsidePauseResume(t *testing.T) {
	m := bootReady(t, minint.Config{Seed: minint.Seed(testSeed)})
	tg := openTarget(t, m)
	ctx := testCtx(t)
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	advances(ctx, t, m, "after Frost's resume")

	// An outside pause is a stop, flagged Outside; the guest stays paused.
	if err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(ctx, t, tg)
	if e.Kind != EventStop || e.Stop.Signal != gdbstub.SignalInt || !e.Stop.Outside {
		t.Fatalf("after QMP stop: %v %+v, want an Outside T02 stop", e.Kind, e.Stop)
	}
	cpus, err := tg.CPUs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Registers(ctx, cpus[0]); err != nil {
		t.Fatalf("registers of an outside-paused guest: %v", err)
	}
	if st := qmpStatus(ctx, t, tg); st.Running {
		t.Fatalf("QEMU runs the guest after an outside pause and a register read: %+v", st)
	}

	// The outside resume is followed: Frost counts the guest as running
	// and its next call fails instead of stopping it.
	if err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitResumed(ctx, t, tg)
	if _, err := tg.Registers(ctx, cpus[0]); !errors.Is(err, gdbstub.ErrRunning) {
		t.Errorf("registers after the outside resume: %v, want ErrRunning", err)
	}
	advances(ctx, t, m, "after the outside resume and a register read")

	// Pause and resume back to back, then at once a request that may beat
	// the news of the resume: whichever wins, the guest runs on.
	for i := range 5 {
		if err := m.Pause(ctx); err != nil {
			t.Fatal(err)
		}
		if e := nextEvent(ctx, t, tg); e.Kind != EventStop || !e.Stop.Outside {
			t.Fatalf("round %d: after QMP stop: %v %+v", i, e.Kind, e.Stop)
		}
		if err := m.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := tg.Registers(ctx, cpus[0])
		t.Logf("round %d: registers right after the outside resume: %v", i, err)
		waitResumed(ctx, t, tg)
		advances(ctx, t, m, "after a request raced the outside resume")
	}

	// Frost's own pause really pauses a guest resumed from outside.
	if err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	nextEvent(ctx, t, tg)
	if err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	stop, err := tg.Pause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Outside {
		t.Errorf("Frost's pause reported as outside: %+v", stop)
	}
	if st := qmpStatus(ctx, t, tg); st.Running {
		t.Fatalf("Pause returned but QEMU runs the guest: %+v", st)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	advances(ctx, t, m, "after Frost's pause and resume")
}

// waitResumed reads events until EventResumed.
func waitResumed(ctx context.Context, t *testing.T, tg Target) {
	t.Helper()
	for {
		e := nextEvent(ctx, t, tg)
		if e.Kind == EventResumed {
			if running, _ := tg.Running(); !running {
				t.Fatalf("EventResumed (%s), but Running() is false", e.Reason)
			}
			return
		}
		if e.Kind != EventStop || !e.Stop.Outside {
			t.Fatalf("event %v %+v while waiting for the resume", e.Kind, e.Stop)
		}
	}
}

// advances waits until writer.exe has written again: the guest runs.
func advances(ctx context.Context, t *testing.T, m *minint.Machine, when string) {
	t.Helper()
	rep, err := m.Report()
	if err != nil {
		t.Fatal(err)
	}
	n := len(rep.All("write"))
	for {
		rep, err := m.Report()
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.All("write")) > n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: the guest's serial did not advance past write %d", when, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func qmpStatus(ctx context.Context, t *testing.T, tg Target) struct {
	Running bool
	Status  string
} {
	t.Helper()
	st, err := tg.(*guest).mon.QueryStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return struct {
		Running bool
		Status  string
	}{st.Running, st.Status}
}
