package vmi

import (
	"context"
	"testing"
	"time"
)

// TestClaims: a stop a call returned is not an event; a stop seen while a
// call runs waits for the call to say; claims the pump skipped past are
// dropped.
func TestClaims(t *testing.T) {
	ctx := context.Background()
	var c claims
	c.begin()
	c.end(&Stop{Seq: 2})
	if !c.claimed(ctx, &Stop{Seq: 2}) {
		t.Error("the call's stop was delivered")
	}
	if c.claimed(ctx, &Stop{Seq: 3}) {
		t.Error("an unclaimed stop was taken")
	}

	// The pump sees a stop while a call runs: it waits for the call.
	c.begin()
	got := make(chan bool)
	go func() { got <- c.claimed(ctx, &Stop{Seq: 4}) }()
	select {
	case <-got:
		t.Fatal("claimed did not wait for the call in progress")
	case <-time.After(50 * time.Millisecond):
	}
	c.end(&Stop{Seq: 4})
	if !<-got {
		t.Error("the call's stop was delivered")
	}

	// A call that returns a breakpoint hit instead of its own stop (Pause
	// racing a hit) claims nothing.
	c.begin()
	c.end(nil)
	if c.claimed(ctx, &Stop{Seq: 5}) {
		t.Error("a hit was swallowed")
	}

	// Claims older than the stop the pump sees are dropped.
	c.begin()
	c.end(&Stop{Seq: 6})
	c.begin()
	c.end(&Stop{Seq: 7})
	if !c.claimed(ctx, &Stop{Seq: 7}) || len(c.seqs) != 0 {
		t.Errorf("claims left: %v", c.seqs)
	}

	// Closing: a pump waiting on a call gives up.
	c.begin()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if !c.claimed(cctx, &Stop{Seq: 8}) {
		t.Error("a closing pump would deliver")
	}
}

// TestEmitEndsAtGone: nothing is delivered after Gone, and the channel
// closes with it.
func TestEmitEndsAtGone(t *testing.T) {
	g := &guest{events: make(chan Event, eventBuffer), done: make(chan struct{}), shutdown: make(chan struct{})}
	g.emitLifecycle(Event{Kind: EventShutdown, Reason: "a"})
	g.emitLifecycle(Event{Kind: EventShutdown, Reason: "b"})
	g.emit(Event{Kind: EventGone})
	if g.emit(Event{Kind: EventReset}) {
		t.Error("an event after gone was delivered")
	}
	var kinds []EventKind
	for e := range g.events {
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[0] != EventShutdown || kinds[1] != EventGone {
		t.Errorf("events %v, want one shutdown, then gone", kinds)
	}
}
