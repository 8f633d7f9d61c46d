package breakpoints

import (
	"context"
	"sync"
	"testing"
)

// ctxRecorder is a thread resolver and a process predicate that records
// the context each call got and the thread the predicate saw.
type ctxRecorder struct {
	mu       sync.Mutex
	ctxs     []context.Context
	sawTid   uint64
	sawKnown bool
}

func (r *ctxRecorder) CurrentThread(ctx context.Context, h *Hit) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctxs = append(r.ctxs, ctx)
	return 0xffffa000_00001080, nil
}

func (r *ctxRecorder) MatchProcess(ctx context.Context, h *Hit) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctxs = append(r.ctxs, ctx)
	r.sawTid, r.sawKnown = h.Thread, h.ThreadKnown
	return true, nil
}

// TestCallOutOnceAHit: naming the thread and a process filter run in one
// bounded call (one goroutine and one deadline per hit, not one each),
// the filter sees the named thread, and the hit is delivered with it.
func TestCallOutOnceAHit(t *testing.T) {
	rec := &ctxRecorder{}
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{Threads: rec})
	ctx := testCtx(t)
	var got []*Hit
	var mu sync.Mutex
	if _, err := m.Add(ctx, Spec{Addr: kfn, Filter: Filter{Process: rec}, Handler: func(_ context.Context, fr *Frame) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fr.Hit)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ctxs) != 2 || rec.ctxs[0] != rec.ctxs[1] {
		t.Errorf("thread and filter calls got %d contexts, distinct: want one bounded call for both", len(rec.ctxs))
	}
	if !rec.sawKnown || rec.sawTid != 0xffffa000_00001080 {
		t.Errorf("the filter saw thread %#x (known %v), want the named one", rec.sawTid, rec.sawKnown)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !got[0].ThreadKnown || got[0].Thread != 0xffffa000_00001080 {
		t.Fatalf("delivered %d hits: %+v", len(got), got)
	}
}
