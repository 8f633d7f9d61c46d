package translate

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

// A VadMap of the largest range stops soon after its caller cancels, and
// one whose deadline has passed does not start.
func TestVadMapContextStops(t *testing.T) {
	g := newGuest(t, 36, mask46)
	tr := g.b.translator(mask46)
	ctx := &stopAfter{Context: context.Background()}
	ctx.n.Store(4)
	runs, err := tr.VadMapContext(ctx, g.dtb, userVA, userVA+MaxVadMapPages*pageSize)
	if !errors.Is(err, context.Canceled) || runs != nil {
		t.Fatalf("cancelled after 4 looks: %d runs, %v; want Canceled", len(runs), err)
	}
	if ctx.n.Load() != -1 {
		t.Errorf("the walk looked %d more times after the cancel", -1-ctx.n.Load())
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := tr.VadMapContext(past, g.dtb, userVA, userVA+MaxVadMapPages*pageSize); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past deadline: %v, want DeadlineExceeded", err)
	}
	// A live context maps as VadMap does.
	runs, err = tr.VadMapContext(context.Background(), g.dtb, userVA, userVA+16*pageSize)
	if err != nil || len(runs) != 1 || runs[0].Start != userVA || runs[0].End != userVA+16*pageSize {
		t.Errorf("live context: %v, %v", runs, err)
	}
}
