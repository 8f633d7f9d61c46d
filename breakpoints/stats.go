package breakpoints

import (
	"sync"
	"sync/atomic"
	"time"
)

// HoldBuckets are the upper bounds, in seconds, HoldTimes counts holds
// into: from a millisecond (an automated ack) to the longest hold frostd
// grants.
var HoldBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600}

// stats are the manager's counters, read by the metrics endpoint. The hit
// count is the loop's alone to write; holds are counted once per held hit,
// once its holds are over, so the lock is never held while the guest waits.
type stats struct {
	hits atomic.Uint64

	mu     sync.Mutex
	holds  uint64
	sum    time.Duration
	counts []uint64 // per HoldBuckets entry, not cumulative
}

// HoldTimes is a snapshot of how long hits held the guest for holding
// subscribers: from the hit's delivery until every hold was acked,
// expired or let go.
type HoldTimes struct {
	Count uint64
	Sum   time.Duration
	// Cumulative[i] counts holds of at most HoldBuckets[i] seconds.
	Cumulative []uint64
}

func (s *stats) observeHold(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = make([]uint64, len(HoldBuckets))
	}
	s.holds++
	s.sum += d
	for i, b := range HoldBuckets {
		if d.Seconds() <= b {
			s.counts[i]++
			break
		}
	}
}

// Hits is how many breakpoint hits an observer accepted (winboot's, a
// monitor's, every client's); hits every filter turned away are not
// counted.
func (m *Manager) Hits() uint64 { return m.stats.hits.Load() }

// HoldTimes returns the hold-time snapshot.
func (m *Manager) HoldTimes() HoldTimes {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	ht := HoldTimes{Count: m.stats.holds, Sum: m.stats.sum, Cumulative: make([]uint64, len(HoldBuckets))}
	var run uint64
	for i := range HoldBuckets {
		if m.stats.counts != nil {
			run += m.stats.counts[i]
		}
		ht.Cumulative[i] = run
	}
	return ht
}
