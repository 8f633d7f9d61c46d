package api

import (
	"google.golang.org/grpc"

	"sync"
	"time"

	"github.com/frostvmi/frost/audit"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// auditedStreams are the streaming calls that hold or change a guest.
var auditedStreams = map[string]bool{
	"/frost.v1.CPUService/Hold":                true,
	"/frost.v1.BootService/Boot":               true,
	"/frost.v1.BreakpointService/Subscribe":    true,
	"/frost.v1.DumpService/DumpProcess":        true,
	"/frost.v1.DumpService/DumpPhysicalToFile": true,
}

// auditStream watches a stream's first request (which VM, whether it
// holds) and its responses (the held hits it delivers).
type auditStream struct {
	grpc.ServerStream
	a      *Auditor
	method string

	first   bool
	vm      string
	start   time.Time
	holds   bool // Subscribe with hold, a dump that pauses, Hold, Boot
	sub     uint64
	started bool
}

func (s *auditStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.first {
		return nil
	}
	s.first, s.start = true, time.Now()
	s.vm = vmOf(m)
	switch r := m.(type) {
	case *pb.HoldRequest:
		s.holds = true
		s.begin(audit.HoldStart, "")
	case *pb.BootRequest:
		s.holds = true
		s.begin(audit.BootStart, "")
	case *pb.SubscribeRequest:
		s.holds = r.GetHold()
	case *pb.DumpProcessRequest:
		s.holds = !r.GetLive()
	case *pb.DumpPhysicalToFileRequest:
		s.holds = !r.GetLive()
	}
	return nil
}

func (s *auditStream) begin(action, detail string) {
	s.started = true
	s.a.record(s.Context(), s.method, audit.Event{Action: action, VM: s.vm, Detail: detail, Result: "started"}, nil)
}

func (s *auditStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	r, ok := m.(*pb.SubscribeResponse)
	if !ok || !s.holds || err != nil {
		return err
	}
	if sub := r.GetSubscribed(); sub != nil {
		s.sub = sub.GetSubscriptionId()
	}
	if hit := r.GetHit(); hit != nil && hit.GetHeld() {
		until := hit.GetHoldUntil().AsTime()
		s.a.held.add(s.vm, s.sub, hit.GetSequence(), time.Now(), until)
		s.a.record(s.Context(), s.method, audit.Event{Action: audit.HitHeld, VM: s.vm, Subscription: s.sub,
			Sequence: hit.GetSequence(), Detail: "until " + until.Format(time.RFC3339Nano), Result: "held"}, nil)
	}
	return err
}

// end records how the call ended; for a holding Subscribe, the hits it
// still held end with it (the guest is let go when the stream goes).
func (s *auditStream) end(err error) {
	if !s.first {
		return
	}
	held := audit.Duration(time.Since(s.start))
	switch s.method {
	case "/frost.v1.CPUService/Hold":
		s.a.record(s.Context(), s.method, audit.Event{Action: audit.HoldEnd, VM: s.vm, Held: &held}, err)
	case "/frost.v1.BootService/Boot":
		s.a.record(s.Context(), s.method, audit.Event{Action: audit.BootEnd, VM: s.vm, Held: &held}, err)
	case "/frost.v1.BreakpointService/Subscribe":
		now := time.Now()
		for _, h := range s.a.held.drop(s.vm, s.sub) {
			d, detail := h.heldUntil(now)
			s.a.record(s.Context(), s.method, audit.Event{Action: audit.HitReleased, VM: s.vm, Subscription: s.sub,
				Sequence: h.seq, Held: &d, Detail: "not acked" + detail}, err)
		}
	default:
		if s.holds {
			s.a.record(s.Context(), s.method, audit.Event{Action: audit.Dump, VM: s.vm, Held: &held, Detail: "guest paused for the dump"}, err)
		}
	}
}

// heldHits are the held hits delivered and not yet acked, so that the
// Ack (a separate call) can say how long the guest waited.
type heldHits struct {
	mu sync.Mutex
	m  map[heldKey]heldHit
}

type heldKey struct {
	vm       string
	sub, seq uint64
}

type heldHit struct {
	seq          uint64
	since, until time.Time
}

// heldUntil is how long the hit held the guest if it ended now: never past
// its deadline, when frostd let the guest go by itself.
func (h heldHit) heldUntil(now time.Time) (audit.Duration, string) {
	if !h.until.IsZero() && now.After(h.until) {
		return audit.Duration(h.until.Sub(h.since)), " (after the hold deadline passed)"
	}
	return audit.Duration(now.Sub(h.since)), ""
}

// maxHeldTracked bounds the map: a subscriber that never acks is let go at
// each deadline by frostd, and its entries are dropped with its stream;
// this is the backstop against one that holds a long-lived stream open.
const maxHeldTracked = 4096

func (t *heldHits) add(vm string, sub, seq uint64, since, until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[heldKey]heldHit{}
	}
	if len(t.m) >= maxHeldTracked {
		for k, h := range t.m {
			if !h.until.IsZero() && since.After(h.until) {
				delete(t.m, k)
			}
		}
	}
	if len(t.m) < maxHeldTracked {
		t.m[heldKey{vm, sub, seq}] = heldHit{seq: seq, since: since, until: until}
	}
}

func (t *heldHits) take(vm string, sub, seq uint64) (heldHit, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := heldKey{vm, sub, seq}
	h, ok := t.m[k]
	delete(t.m, k)
	return h, ok
}

func (t *heldHits) drop(vm string, sub uint64) []heldHit {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []heldHit
	for k, h := range t.m {
		if k.vm == vm && k.sub == sub {
			out = append(out, h)
			delete(t.m, k)
		}
	}
	return out
}
