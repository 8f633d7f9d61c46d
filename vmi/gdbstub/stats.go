package gdbstub

import (
	"sync/atomic"
	"time"
)

// RoundTripBuckets are the upper bounds, in seconds, round trips are
// counted into: QEMU answers in ~0.2-0.9 ms (more under libvirt), and a
// stub that takes a second is in trouble.
var RoundTripBuckets = [...]float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1}

// rttStats counts request round trips: written by the connection's owner
// only, read by anyone (metrics), hence atomics and no lock.
type rttStats struct {
	n      atomic.Uint64
	sumNs  atomic.Uint64
	counts [len(RoundTripBuckets)]atomic.Uint64 // not cumulative; beyond the last: only in n
}

func (s *rttStats) observe(d time.Duration) {
	s.n.Add(1)
	s.sumNs.Add(uint64(d))
	for i, b := range RoundTripBuckets {
		if d.Seconds() <= b {
			s.counts[i].Add(1)
			return
		}
	}
}

// RoundTrips is a snapshot of the requests answered: from sending a packet
// to its reply (resumes, answered by a later stop, are not counted).
type RoundTrips struct {
	Count uint64
	Sum   time.Duration
	// Cumulative[i] counts round trips of at most RoundTripBuckets[i]
	// seconds.
	Cumulative []uint64
}

// RoundTrips returns the round-trip snapshot of the connection.
func (c *Client) RoundTrips() RoundTrips {
	s := &c.e.rtt
	rt := RoundTrips{Cumulative: make([]uint64, len(RoundTripBuckets))}
	var run uint64
	for i := range RoundTripBuckets {
		run += s.counts[i].Load()
		rt.Cumulative[i] = run
	}
	// Read after the buckets: a round trip counted meanwhile makes Count
	// at least the last bucket, as Prometheus requires.
	rt.Count = max(s.n.Load(), run)
	rt.Sum = time.Duration(s.sumNs.Load())
	return rt
}
