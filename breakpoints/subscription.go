package breakpoints

import (
	"slices"
	"sync"
	"time"
)

// SubscribeOptions say what a subscriber wants and whether it holds the
// guest.
type SubscribeOptions struct {
	// Queue bounds the events waiting for the subscriber; 0 means 64.
	// When it is full, events are lost and counted (Event.Lost).
	Queue int
	// Kinds selects event kinds; empty means all.
	Kinds []EventKind
	// Observers selects the hits of these observers, and of the return
	// observers their handlers armed (Frame.BreakOnReturn); empty means
	// every hit.
	Observers []ID
	// Hold, when positive, keeps the guest stopped at each hit delivered
	// to this subscriber until it acks, or Hold has passed: a dead client
	// never holds the guest longer. A hit lost to a full queue holds
	// nothing.
	Hold time.Duration
}

// Subscription is one subscriber's view of the manager's events.
type Subscription struct {
	m    *Manager
	opts SubscribeOptions
	ch   chan Event

	mu      sync.Mutex
	closed  bool
	pending uint64 // lost since the last delivered event
	lost    uint64 // lost in total
	holds   map[uint64]*hold
}

// hold is a hit that waits for one subscriber's ack.
type hold struct {
	sub      *Subscription
	seq      uint64
	deadline time.Time
	edits    *Edits
	acked    bool
	released bool // the subscription closed: nothing to wait for
}

// Subscribe starts a subscription. Close it when done; a closed manager
// closes it too.
func (m *Manager) Subscribe(opts SubscribeOptions) *Subscription {
	if opts.Queue <= 0 {
		opts.Queue = 64
	}
	s := &Subscription{m: m, opts: opts, ch: make(chan Event, opts.Queue), holds: map[uint64]*hold{}}
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	if m.subsClosed {
		s.closed = true
		close(s.ch)
		return s
	}
	m.subs[s] = struct{}{}
	return s
}

// Events delivers the subscription's events; it is closed when the
// subscription or the manager is.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Lost is how many events the subscriber lost in total.
func (s *Subscription) Lost() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// Ack releases the guest held at event seq; the event's staged Edits go
// with it. An ack after the hold's deadline fails with ErrNotHeld: the
// guest has moved on and the edits were dropped.
func (s *Subscription) Ack(seq uint64) error {
	s.mu.Lock()
	h, ok := s.holds[seq]
	if ok {
		delete(s.holds, seq)
		h.acked = true
	}
	s.mu.Unlock()
	if !ok {
		return ErrNotHeld
	}
	s.m.kickLoop()
	return nil
}

// Close ends the subscription and releases every hold it has: a
// subscriber that goes away never keeps the guest waiting.
func (s *Subscription) Close() {
	s.m.subsMu.Lock()
	delete(s.m.subs, s)
	s.m.subsMu.Unlock()
	s.shut()
	s.m.kickLoop()
}

// shut closes the channel and releases holds.
func (s *Subscription) shut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for seq, h := range s.holds {
		h.released = true
		delete(s.holds, seq)
	}
	close(s.ch)
}

// wants says whether ev is for this subscriber.
func (s *Subscription) wants(ev *Event) bool {
	if len(s.opts.Kinds) > 0 && !slices.Contains(s.opts.Kinds, ev.Kind) {
		return false
	}
	if ev.Kind == EventHit && len(s.opts.Observers) > 0 {
		for _, id := range ev.Observers {
			if slices.Contains(s.opts.Observers, id) {
				return true
			}
		}
		// The return of a call whose hits the subscriber asked for.
		for _, id := range ev.ReturnOf {
			if slices.Contains(s.opts.Observers, id) {
				return true
			}
		}
		return false
	}
	return true
}

// offer queues ev without blocking. A hit delivered to a holding
// subscriber returns the hold to wait for.
func (s *Subscription) offer(ev Event) *hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	ev.Lost = s.pending
	var h *hold
	if ev.Kind == EventHit && s.opts.Hold > 0 {
		h = &hold{sub: s, seq: ev.Seq, deadline: time.Now().Add(s.opts.Hold), edits: newEdits(ev.Hit.Regs)}
		ev.Held, ev.Edits = true, h.edits
	}
	select {
	case s.ch <- ev:
		s.pending = 0
		if h != nil {
			s.holds[ev.Seq] = h
		}
		return h
	default:
		s.pending++
		s.lost++
		return nil
	}
}

// expire drops a hold whose deadline passed.
func (s *Subscription) expire(h *hold) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.holds, h.seq)
}

// state reports whether the hold is over, and whether its edits stand.
func (h *hold) state() (over, keep bool) {
	h.sub.mu.Lock()
	defer h.sub.mu.Unlock()
	switch {
	case h.acked:
		return true, true
	case h.released:
		return true, false
	}
	return false, false
}
