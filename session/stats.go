package session

import (
	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/vmi"
)

// Stats is a snapshot of what a session counts, for the metrics endpoint
// (which imports session; session knows nothing of it).
type Stats struct {
	// Running is the guest's run state as the target last reported it.
	Running bool
	// Breakpoints are the client-armed breakpoints and their delivered
	// hits.
	Breakpoints []BreakpointStats
	// Subscribers are the open subscriptions and the events each lost to
	// a full queue (a slow reader drops events rather than holding the
	// guest).
	Subscribers []SubscriberStats
	// Hits counts every hit an observer accepted (winboot's and
	// monitors' too); Holds how long held hits kept the guest stopped.
	Hits  uint64
	Holds breakpoints.HoldTimes
	// Read is the data plane's backend and bytes served; zero for a
	// target that does not count.
	Read vmi.ReadStats
	// Stub is the gdbstub's round-trip histogram (Count 0: not known).
	Stub vmi.StubRoundTrips
}

type BreakpointStats struct {
	ID   uint64
	Hits uint64
}

type SubscriberStats struct {
	ID   uint64
	Lost uint64
}

// Stats takes the snapshot. It takes the client bookkeeping's lock only
// briefly and never talks to the guest: Running is the target's cached
// state.
func (s *Session) Stats() Stats {
	running, _ := s.Target.Running()
	st := Stats{Running: running, Hits: s.mgr.Hits(), Holds: s.mgr.HoldTimes()}
	if rs, ok := s.Target.(vmi.ReadStatser); ok {
		st.Read = rs.ReadStats()
	}
	if ss, ok := s.Target.(vmi.StubStatser); ok {
		st.Stub = ss.StubRoundTrips()
	}
	s.cl.mu.Lock()
	for _, a := range s.cl.armed {
		st.Breakpoints = append(st.Breakpoints, BreakpointStats{ID: uint64(a.ID), Hits: a.Hits})
	}
	subs := make([]*Subscription, 0, len(s.cl.subs))
	for _, sub := range s.cl.subs {
		subs = append(subs, sub)
	}
	s.cl.mu.Unlock()
	for _, sub := range subs {
		var lost uint64
		if sub.sub != nil {
			lost = sub.sub.Lost()
		}
		st.Subscribers = append(st.Subscribers, SubscriberStats{ID: sub.ID, Lost: lost})
	}
	return st
}
