package gdbstub

import (
	"errors"
	"fmt"
	"testing"
)

// outsidePause stops the fake's running guest as QMP "stop" or virsh
// suspend would: QEMU's stub reports it as T02.
func outsidePause(f *fakeStub) {
	f.set(func(f *fakeStub) {
		f.stop(fmt.Sprintf("T%02xthread:%s;", SignalInt, f.threadID(f.cThread)))
	})
}

// TestStrayStopRestored: the guest is resumed behind the client's back and
// a request beats the news. Its guard byte stops the guest; once it has its
// reply the client lets the guest run on, and counts the resume.
func TestStrayStopRestored(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	first, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	c.RestoreStrays(true)
	f.resumeBehindBack()
	buf := make([]byte, 16)
	if _, err := c.ReadMemory(cx, ThreadID{}, 0x5000, buf); err != nil {
		t.Fatalf("read after a resume behind our back: %v", err)
	}
	waitFor(t, "the guest to run again", f.isRunning)
	// The stray stop stays the latest stop while the guest runs on.
	if stray := c.e.snapshot().stop; stray == nil || stray.Seq <= first.Seq || !stray.Outside || !stray.Stray {
		t.Errorf("the guard byte's stop %+v: want a newer stop, Outside and Stray", stray)
	}
	if n, why := c.Resumes(); n != 1 || why == "" {
		t.Errorf("Resumes() = %d, %q; want 1 with a reason", n, why)
	}
	if st, _ := c.State(); st != StateRunning {
		t.Errorf("state %v after the restore, want running", st)
	}
}

// TestStrayStopKeptWithoutRestore: before the owner turns restoring on (as
// while attaching), a stray stop stays: connecting must stop the guest.
func TestStrayStopKeptWithoutRestore(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	first, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	f.resumeBehindBack()
	if _, err := c.ReadMemory(cx, ThreadID{}, 0x5000, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAfter(cx, first.Seq); err != nil {
		t.Fatal(err)
	}
	// One more round trip: a restore would have been sent by now.
	if _, err := c.ReadMemory(cx, ThreadID{}, 0x5000, make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
	if f.isRunning() {
		t.Error("the guest was resumed with restoring off")
	}
}

// TestResync: told that the guest runs, the client sends nothing that
// would stop it: requests fail with ErrRunning, and Interrupt stops it
// with 0x03 (a stop that is not Outside).
func TestResync(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	first, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	f.resumeBehindBack()
	if err := c.Resync(cx, first.Seq-1, "stale"); !errors.Is(err, ErrNotResynced) {
		t.Errorf("Resync with a stale seq: %v, want ErrNotResynced", err)
	}
	st, seq := c.Latest()
	if st != StateStopped || seq != first.Seq {
		t.Fatalf("Latest() = %v, %d; want stopped at %d", st, seq, first.Seq)
	}
	if err := c.Resync(cx, seq, "QMP RESUME"); err != nil {
		t.Fatal(err)
	}
	stop, n, err := c.WaitChange(cx, seq, 0)
	if err != nil || stop != nil || n != 1 {
		t.Fatalf("WaitChange = %v, %d, %v; want the resume", stop, n, err)
	}
	var before int
	f.set(func(f *fakeStub) { before = f.received.Len() })
	if _, err := c.Registers(cx, first.Thread); !errors.Is(err, ErrRunning) {
		t.Errorf("Registers of a resynced guest: %v, want ErrRunning", err)
	}
	f.set(func(f *fakeStub) {
		if got := f.received.Len(); got != before {
			t.Errorf("%d bytes reached the stub of a running guest", got-before)
		}
	})
	if !f.isRunning() {
		t.Fatal("the guest was stopped")
	}
	intr, err := c.Interrupt(cx)
	if err != nil {
		t.Fatal(err)
	}
	if intr.Signal != SignalInt || intr.Outside {
		t.Errorf("Interrupt's stop %v (Outside %v), want our T02", intr, intr.Outside)
	}
}

// TestOutsidePauseFlagged: a T02 nobody here asked for is flagged Outside,
// and is not Stray (nothing of ours was in flight).
func TestOutsidePauseFlagged(t *testing.T) {
	f, c := fakeClient(t, fakeOpts{}, AccelTCG, Config{})
	cx := ctx(t)
	first, err := c.Attach(cx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Outside {
		t.Error("Attach's stop (the answer to \"?\") flagged Outside")
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the guest to run", f.isRunning)
	outsidePause(f)
	stop, err := c.WaitAfter(cx, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if !stop.Outside || stop.Stray {
		t.Errorf("outside pause: Outside %v Stray %v, want Outside only", stop.Outside, stop.Stray)
	}
	if err := c.Continue(cx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the guest to run", f.isRunning)
	f.hit(0, "")
	hit, err := c.WaitAfter(cx, stop.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if hit.Outside {
		t.Error("a breakpoint hit flagged Outside")
	}
}
