package nt

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// stopAfter is a context whose Err turns to Canceled after n looks: a
// cancel that lands mid-walk, at a place the test knows, without timing.
type stopAfter struct {
	context.Context
	n atomic.Int64
}

func (c *stopAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func cancelAfter(n int64) *stopAfter {
	c := &stopAfter{Context: context.Background()}
	c.n.Store(n)
	return c
}

// A long walk stops when its caller goes: a large VAD tree laid out from
// the real Windows 10 ISF, the process and thread lists and a handle
// table stop mid-walk on a cancel (with what was read so far) and do not
// start past a deadline.
func TestLongWalksStopOnCancel(t *testing.T) {
	g := newRealGuest(t)
	g.process(4, 0, 0x1ad000, "System")
	ep := g.process(0x2f4, 0x2c8, 0x7e4d2002, "big.exe")
	const n = 4096
	vads := make([]testVAD, n)
	for i := range vads {
		start := uint64(0x10000) + uint64(i)*0x2000
		vads[i] = testVAD{start: start, end: start + 0x1000, private: true, commit: true, protection: 4}
	}
	buildVADs(g, ep, vads)
	for pid := uint64(0x1000); pid < 0x1000+64*4; pid += 4 {
		g.process(pid, 4, 0x10000000+pid<<12, "filler.exe")
	}
	for tid := uint64(0x100); tid < 0x100+64*4; tid += 4 {
		g.thread(ep, ep, tid)
	}
	g.levelZeroTable(ep) // one page of entries, none used
	k := g.kernel()
	p, err := k.ProcessByPID(0x2f4)
	if err != nil {
		t.Fatal(err)
	}
	if all, err := k.VADsContext(context.Background(), p); err != nil || len(all) != n {
		t.Fatalf("the whole tree: %d VADs, %v", len(all), err)
	}

	got, err := k.VADsContext(cancelAfter(100), p)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("VADs cancelled after 100 looks: %v, want Canceled", err)
	}
	if len(got) == 0 || len(got) >= 100 {
		t.Errorf("VADs cancelled after 100 looks returned %d VADs, want the few read before", len(got))
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if got, err := k.VADsContext(past, p); !errors.Is(err, context.DeadlineExceeded) || len(got) != 0 {
		t.Errorf("VADs past the deadline: %d, %v; want DeadlineExceeded", len(got), err)
	}

	procs, err := k.ProcessesContext(cancelAfter(10))
	if !errors.Is(err, context.Canceled) || len(procs) != 10 {
		t.Errorf("processes cancelled after 10: %d, %v", len(procs), err)
	}
	ths, err := k.ThreadsContext(cancelAfter(10), p)
	if !errors.Is(err, context.Canceled) || len(ths) != 10 {
		t.Errorf("threads cancelled after 10: %d, %v", len(ths), err)
	}
	if _, err := k.HandlesContext(past, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("handles past the deadline: %v", err)
	}
	if hs, err := k.HandlesContext(context.Background(), p); err != nil || len(hs) != 0 {
		t.Errorf("handles of an empty table: %v, %v", hs, err)
	}
}
