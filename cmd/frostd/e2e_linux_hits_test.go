package main

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Breakpoints on the Linux guest's ksys_write: finding the writer's
// address space, and a stream filtered to it.

// findWriterCR3 sets a persistent breakpoint on ksys_write (a raw kernel
// address, no filter), streams every breakpoint's hits with events, and
// reads the user buffer (RSI, RDX bytes) of hits through the hit's own
// CR3 until one holds a writer line the guest printed. It goes on until
// it has also seen another address space write (the noise process), so
// that the filter checked next has something to filter. It returns the
// writer's CR3 and the address of its write buffer.
func findWriterCR3(t *testing.T, c *ctl, d *linuxDomain, ksysWrite uint64) (cr3, buffer uint64) {
	var set pb.SetBreakpointResponse
	c.json(t, &set, "break", "--persist", hex(ksysWrite))
	bp := set.GetBreakpoint()
	if bp.GetAddress() != ksysWrite {
		t.Fatalf("break --persist %#x: %v", ksysWrite, bp)
	}
	defer c.must(t, "clear", strconv.FormatUint(bp.GetId(), 10))
	ev := c.stream(t, "events", "--json=proto")
	defer ev.stop(t)
	var writer, writerBuf uint64
	others := map[uint64]bool{}
	deadline := time.Now().Add(guestWait)
	for hits := 0; writer == 0 || len(others) == 0; {
		line, ok := ev.next(time.Until(deadline))
		if !ok {
			t.Fatalf("events ended or went quiet after %d hits (writer CR3 %#x, other CR3s %v)\nstderr:\n%s", hits, writer, others, ev.stderr.String())
		}
		h := hitOf(t, line)
		if h == nil {
			continue
		}
		hits++
		if h.GetBreakpointId() != bp.GetId() || h.GetAddress() != ksysWrite {
			t.Fatalf("hit of breakpoint %d at %#x, want %d at %#x", h.GetBreakpointId(), h.GetAddress(), bp.GetId(), ksysWrite)
		}
		r := registers(h.GetRegisters())
		if r["rip"] != ksysWrite {
			t.Errorf("hit #%d: rip %#x, want ksys_write %#x", h.GetSequence(), r["rip"], ksysWrite)
		}
		cr3 := r["cr3"]
		if cr3 == writer {
			continue
		}
		if writer != 0 || r["rdx"] != writeLen {
			others[cr3] = true
			continue
		}
		buf := readVirtual(t, c, cr3, r["rsi"], r["rdx"])
		if _, ok := linuxguest.ParseWrite(string(buf)); !ok {
			others[cr3] = true
			continue
		}
		d.waitReport(t, fmt.Sprintf("the line %q in the serial log", buf), func(r *linuxguest.Report) bool { return r.Wrote(string(buf)) })
		writer, writerBuf = cr3, r["rsi"]
		t.Logf("hit #%d: pid %d's write(%d, %#x, %d) = %q: the writer's CR3 is %#x", h.GetSequence(), d.report(t).WriterPID, r["rdi"], r["rsi"], r["rdx"], buf, cr3)
	}
	t.Logf("other address spaces that wrote: %d", len(others))
	return writer, writerBuf
}

// checkWriterHits streams a breakpoint on ksys_write filtered to the
// writer's CR3 and checks n hits: each in that address space, each
// write(2)'s buffer one whole writer line the guest printed, and the
// lines in order with none left out (when the stream says it dropped no
// hit).
//
// One line may show at two hits in a row. It was seen once: two hits
// 25 ms apart, both reading line 10, and the serial log holding line 10
// once (it would not parse otherwise): one printf, two entries into
// ksys_write with the same buffer, most likely a write(2) that a signal
// cut short before it copied a byte, which the kernel restarts. So the
// counters may stay or rise by one from hit to hit, never more.
//
// The buffer is read after the hit, with the guest running on: it is the
// writer's stdio buffer, which holds the line until the next one
// overwrites it a period later. Every line has the same length, so a read
// that came a period late would still read a whole line, a later one: the
// counters would then rise by two at that hit, which the check catches.
func checkWriterHits(t *testing.T, c *ctl, d *linuxDomain, ksysWrite, cr3 uint64, n int) {
	s := c.stream(t, "break", "--json=proto", "--dtb", hex(cr3), hex(ksysWrite))
	var counters []uint64
	var dropped uint64
	deadline := time.Now().Add(guestWait)
	for len(counters) < n {
		line, ok := s.next(time.Until(deadline))
		if !ok {
			t.Fatalf("break --dtb ended or went quiet after %d hits\nstderr:\n%s", len(counters), s.stderr.String())
		}
		h := hitOf(t, line)
		if h == nil {
			continue
		}
		r := registers(h.GetRegisters())
		if r["cr3"] != cr3 || r["rip"] != ksysWrite || r["rdx"] != writeLen {
			t.Fatalf("hit #%d: cr3 %#x rip %#x rdx %d; want cr3 %#x rip %#x rdx %d", h.GetSequence(), r["cr3"], r["rip"], r["rdx"], cr3, ksysWrite, writeLen)
		}
		buf := readVirtual(t, c, cr3, r["rsi"], r["rdx"])
		k, ok := linuxguest.ParseWrite(string(buf))
		if !ok || string(buf) != linuxguest.WriteLine(k) {
			t.Fatalf("hit #%d: the buffer at %#x is %q, not a writer line", h.GetSequence(), r["rsi"], buf)
		}
		t.Logf("hit #%d at %s: write(%d, %#x, %d) of line %d", h.GetSequence(), h.GetTime().AsTime().Format("15:04:05.000"), r["rdi"], r["rsi"], r["rdx"], k)
		dropped += h.GetDropped()
		counters = append(counters, k)
	}
	s.stop(t)
	t.Logf("writer lines at %d filtered hits: %v (dropped %d)", n, counters, dropped)
	last := counters[len(counters)-1]
	rep := d.waitReport(t, fmt.Sprintf("writer line %d", last), func(r *linuxguest.Report) bool { return r.LastWrite() >= last })
	for i, k := range counters {
		if !rep.Wrote(linuxguest.WriteLine(k)) {
			t.Errorf("line %d read at a hit is not in the serial log", k)
		}
		if i == 0 {
			continue
		}
		switch step := int64(k) - int64(counters[i-1]); {
		case step < 0:
			t.Errorf("counters %v go back", counters)
		case step > 1 && dropped == 0:
			t.Errorf("counters %v skip a line, yet no hit was reported dropped (or a buffer was read a period late)", counters)
		}
	}
	if counters[0] == last {
		t.Errorf("%d hits all read line %d", n, last)
	}
	if len(rep.Garbled) > 0 {
		t.Logf("garbled writer lines in the serial log: %q", rep.Garbled)
	}
}
