package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/vmi"
)

// lastWriteCount is the highest `write count=` the guest has printed.
func lastWriteCount(t testing.TB, rep minint.Report) uint64 {
	t.Helper()
	var n uint64
	for _, e := range rep.All("write") {
		n = max(n, uintField(t, e, "count"))
	}
	return n
}

// messageNumber parses writer.exe's message number from a buffer.
func messageNumber(data []byte) (uint64, bool) {
	var n uint64
	if _, err := fmt.Sscanf(string(data), "frost-writer: message %d from writer.exe", &n); err != nil {
		return 0, false
	}
	return n, string(data) == writerMessage(n)
}

// TestMonitorNtWriteFile runs the NtWriteFile monitor on a winboot boot
// (case B) and checks writer.exe's calls byte-exact, with its pid, name and
// file, against the guest's own count of writes over the same window.
func TestMonitorNtWriteFile(t *testing.T) {
	requireGuest(t)
	const want = 40
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(71), PagingFiles: []string{pagefile}, WriterPeriodMS: 10}, "")
	waitEvent(t, w.m, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()

	stop, err := w.mgr.Pause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ka := openKernelAt(t, w.m, w.tgt, stop, "", w.rep.KernelBase)
	before := lastWriteCount(t, ka.rep)
	var writerPID uint64
	for _, e := range ka.rep.All("process") {
		if e.Get("name") == "writer.exe" {
			writerPID = uintField(t, e, "pid")
		}
	}
	mon, err := monitor.WatchNtWriteFile(ctx, w.mgr, ka.k.Kernel, monitor.Options{
		Filter: monitor.Filter{Processes: []string{"writer.exe"}}, MaxData: 4096, Physical: vmi.ReaderAt(w.tgt),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("monitor armed at %#x (%v); the guest had printed %d writes", mon.Armed().Addr, mon.Armed().Placement, before)
	if err := w.mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}

	var events []monitor.WriteEvent
	for len(events) < want {
		select {
		case e, ok := <-mon.Events():
			if !ok {
				t.Fatalf("the monitor's events ended after %d", len(events))
			}
			events = append(events, e)
		case <-ctx.Done():
			t.Fatalf("%d events before the deadline, want %d", len(events), want)
		}
	}
	if _, err := w.mgr.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	// Calls handled before the pause may still be queued.
	if err := mon.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for e := range mon.Events() {
		events = append(events, e)
	}
	after := lastWriteCount(t, report(t, w.m))

	var first, last uint64
	for i, e := range events {
		n, exact := messageNumber(e.Data)
		if !exact {
			t.Fatalf("event %d: buffer %q is not one of writer.exe's messages, byte-exact", i, e.Data)
		}
		if i == 0 {
			first = n
		} else if n != last+1 {
			t.Errorf("event %d carries message %d after %d: lost or duplicated", i, n, last)
		}
		last = n
		if e.PID != writerPID || e.Process != "writer.exe" {
			t.Errorf("message %d from pid %d %q, want writer.exe (pid %d)", n, e.PID, e.Process, writerPID)
		}
		if e.File != `\frost\log.txt` {
			t.Errorf("message %d written to %q (%s), want \\frost\\log.txt", n, e.File, e.FileErr)
		}
		if int(e.Length) != len(writerMessage(n)) {
			t.Errorf("message %d: Length %d, want %d (the low 32 bits of the argument)", n, e.Length, len(writerMessage(n)))
		}
	}
	t.Logf("%d events, messages %d..%d, lost %d; the guest printed counts %d before and %d after; first: %+v",
		len(events), first, last, mon.Lost(), before, after, events[0])
	// The guest prints a write's count after the call returns: a call
	// caught by the pause at either end may be in one count and not the
	// other, never more.
	if first != before+1 && first != before+2 {
		t.Errorf("the first message seen is %d, but the guest had printed %d writes when the monitor was armed", first, before)
	}
	if last != after && last != after+1 {
		t.Errorf("the last message seen is %d, but the guest printed %d writes by the pause", last, after)
	}
	if mon.Lost() != 0 {
		t.Errorf("the monitor lost %d events", mon.Lost())
	}
	if !strings.HasSuffix(events[0].Path, `\frost\log.txt`) {
		t.Errorf("file path with its device %q", events[0].Path)
	}
	if err := w.mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKilledSubscriber holds the guest at NtWriteFile for a subscriber
// that then goes away without acking: the guest must run on.
func TestKilledSubscriber(t *testing.T) {
	requireGuest(t)
	w := bootWinboot(t, minint.Config{Seed: minint.Seed(72), PagingFiles: []string{pagefile}, WriterPeriodMS: 10}, "")
	waitEvent(t, w.m, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	stop, err := w.mgr.Pause(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ka := openKernelAt(t, w.m, w.tgt, stop, "", w.rep.KernelBase)
	va, err := ka.k.Address("NtWriteFile")
	if err != nil {
		t.Fatal(err)
	}
	armed, err := w.mgr.Add(ctx, breakpoints.Spec{Addr: va, Owner: "test:held"})
	if err != nil {
		t.Fatal(err)
	}
	const hold = 20 * time.Second // far longer than the test waits after the kill
	sub := w.mgr.Subscribe(breakpoints.SubscribeOptions{Observers: []breakpoints.ID{armed.ID}, Hold: hold})
	if err := w.mgr.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	var held breakpoints.Event
	for held.Kind != breakpoints.EventHit {
		select {
		case held = <-sub.Events():
		case <-ctx.Done():
			t.Fatal("no hit on NtWriteFile")
		}
	}
	if !held.Held {
		t.Fatalf("the hit does not hold the guest: %+v", held)
	}
	count := lastWriteCount(t, report(t, w.m))
	killed := time.Now()
	sub.Close() // the subscriber dies holding the guest
	if err := w.mgr.Remove(ctx, armed.ID); err != nil {
		t.Fatal(err)
	}
	// The guest must write again, well before the hold's own deadline.
	waitCtx, waitCancel := context.WithTimeout(ctx, hold/2)
	defer waitCancel()
	if _, err := w.m.WaitSerial(waitCtx, func(line string) bool {
		e, ok, err := minint.ParseLine(line)
		if !ok || err != nil || e.Name != "write" {
			return false
		}
		n, err := e.Uint("count")
		return err == nil && n > count+1
	}); err != nil {
		t.Fatalf("the guest did not run on after its holding subscriber died: %v", err)
	}
	t.Logf("the guest wrote again %v after the subscriber holding it died", time.Since(killed).Round(time.Millisecond))
}
