package session

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/frostvmi/frost/breakpoints"
)

// What clients of a session arm and subscribe to is the session's to keep:
// the breakpoints a client armed (to list them back, count their hits,
// and clear only those, never winboot's or a monitor's), and the
// subscriptions with the register edits of the hits they hold until the
// client acks.

// ErrNotArmed: no breakpoint by that id was armed by a client.
var ErrNotArmed = errors.New("no such breakpoint armed through the API")

// ErrNoSubscription: no subscription by that id.
var ErrNoSubscription = errors.New("no such subscription")

// Armed is a breakpoint a client armed.
type Armed struct {
	ID        breakpoints.ID
	Placement breakpoints.Placement
	// Sub is the subscription that armed it (removed with it); 0 for a
	// breakpoint that stays until cleared.
	Sub uint64
	// Hits counts its hits delivered to subscribers.
	Hits uint64
	// Label is the client's own description of it (the API keeps the
	// spec as the client asked for it), returned as given.
	Label any
}

// clients is a session's client bookkeeping.
type clients struct {
	mu    sync.Mutex
	armed map[breakpoints.ID]*Armed
	subs  map[uint64]*Subscription
	next  uint64
}

func (c *clients) init() {
	if c.armed == nil {
		c.armed = map[breakpoints.ID]*Armed{}
		c.subs = map[uint64]*Subscription{}
	}
}

// Arm adds a breakpoint for a client (sub: the subscription arming it, or
// 0) and records it.
func (s *Session) Arm(ctx context.Context, spec breakpoints.Spec, sub uint64, label any) (Armed, error) {
	a, err := s.mgr.Add(ctx, spec)
	if err != nil {
		return Armed{}, err
	}
	rec := &Armed{ID: a.ID, Placement: a.Placement, Sub: sub, Label: label}
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	s.cl.init()
	s.cl.armed[a.ID] = rec
	return *rec, nil
}

// Disarm removes a breakpoint a client armed; any other is ErrNotArmed.
func (s *Session) Disarm(ctx context.Context, id breakpoints.ID) error {
	s.cl.mu.Lock()
	_, ok := s.cl.armed[id]
	s.cl.mu.Unlock()
	if !ok {
		return ErrNotArmed
	}
	if err := s.mgr.Remove(ctx, id); err != nil {
		return err
	}
	s.cl.mu.Lock()
	delete(s.cl.armed, id)
	s.cl.mu.Unlock()
	return nil
}

// ArmedList lists the breakpoints clients armed, by id.
func (s *Session) ArmedList() []Armed {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	out := make([]Armed, 0, len(s.cl.armed))
	for _, a := range s.cl.armed {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// CountHit counts a hit delivered for each of ids.
func (s *Session) CountHit(ids []breakpoints.ID) {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	for _, id := range ids {
		if a := s.cl.armed[id]; a != nil {
			a.Hits++
		}
	}
}

// Subscription is one client's stream of the manager's events, with the
// breakpoints it armed for itself and the edits of the hits it holds.
type Subscription struct {
	ID  uint64
	s   *Session
	sub *breakpoints.Subscription

	mu    sync.Mutex
	owned []breakpoints.ID
	edits map[uint64]*breakpoints.Edits
}

// NewSubscription numbers a client's subscription; Start subscribes it.
func (s *Session) NewSubscription() *Subscription {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	s.cl.init()
	s.cl.next++
	sub := &Subscription{ID: s.cl.next, s: s, edits: map[uint64]*breakpoints.Edits{}}
	s.cl.subs[sub.ID] = sub
	return sub
}

// Subscription returns a live subscription by id.
func (s *Session) Subscription(id uint64) (*Subscription, error) {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	if sub := s.cl.subs[id]; sub != nil {
		return sub, nil
	}
	return nil, ErrNoSubscription
}

// Arm arms a breakpoint owned by the subscription: it goes when the
// subscription closes.
func (sub *Subscription) Arm(ctx context.Context, spec breakpoints.Spec, label any) (Armed, error) {
	a, err := sub.s.Arm(ctx, spec, sub.ID, label)
	if err != nil {
		return a, err
	}
	sub.mu.Lock()
	sub.owned = append(sub.owned, a.ID)
	sub.mu.Unlock()
	return a, nil
}

// Start subscribes to the manager's events.
func (sub *Subscription) Start(opts breakpoints.SubscribeOptions) <-chan breakpoints.Event {
	sub.sub = sub.s.mgr.Subscribe(opts)
	return sub.sub.Events()
}

// Held records the edits of a hit the subscription holds, until its Ack.
func (sub *Subscription) Held(seq uint64, e *breakpoints.Edits) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.edits[seq] = e
}

// Ack releases the hit held at seq; edit, if not nil, stages register
// edits first. An edit that fails leaves the hit held (the client may ack
// again, corrected); a hit not held is breakpoints.ErrNotHeld.
func (sub *Subscription) Ack(seq uint64, edit func(*breakpoints.Edits) error) error {
	sub.mu.Lock()
	e := sub.edits[seq]
	sub.mu.Unlock()
	if e == nil || sub.sub == nil {
		return breakpoints.ErrNotHeld
	}
	if edit != nil {
		if err := edit(e); err != nil {
			return err
		}
	}
	sub.mu.Lock()
	delete(sub.edits, seq)
	sub.mu.Unlock()
	return sub.sub.Ack(seq)
}

// releaseTimeout bounds removing a closed subscription's breakpoints,
// which runs after its client has gone.
const releaseTimeout = 10 * time.Second

// Close ends the subscription: whatever it holds is released, and the
// breakpoints it armed are removed.
func (sub *Subscription) Close() {
	if sub.sub != nil {
		sub.sub.Close()
	}
	s := sub.s
	s.cl.mu.Lock()
	delete(s.cl.subs, sub.ID)
	s.cl.mu.Unlock()
	sub.mu.Lock()
	owned := sub.owned
	sub.owned = nil
	sub.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	for _, id := range owned {
		_ = s.mgr.Remove(ctx, id)
		s.cl.mu.Lock()
		delete(s.cl.armed, id)
		s.cl.mu.Unlock()
	}
}
