package vmi

import (
	"time"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// StubRoundTrips is the control plane's round-trip histogram: Cumulative[i]
// counts requests answered within Buckets[i] seconds.
type StubRoundTrips struct {
	Count      uint64
	Sum        time.Duration
	Buckets    []float64
	Cumulative []uint64
}

// StubStatser is a Target that times its gdbstub round trips; fakes need
// not implement it.
type StubStatser interface {
	StubRoundTrips() StubRoundTrips
}

func (g *guest) StubRoundTrips() StubRoundTrips {
	if g.gdb == nil {
		return StubRoundTrips{}
	}
	rt := g.gdb.RoundTrips()
	return StubRoundTrips{Count: rt.Count, Sum: rt.Sum, Buckets: gdbstub.RoundTripBuckets[:], Cumulative: rt.Cumulative}
}
