package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/vmi"
)

// holdHistogram turns the manager's hold counts into a Prometheus
// histogram (the buckets are breakpoints.HoldBuckets).
func holdHistogram(ht breakpoints.HoldTimes, vm string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(breakpoints.HoldBuckets))
	for i, b := range breakpoints.HoldBuckets {
		if i < len(ht.Cumulative) {
			buckets[b] = ht.Cumulative[i]
		}
	}
	return prometheus.MustNewConstHistogram(vmHolds, ht.Count, ht.Sum.Seconds(), buckets, vm)
}

// stubHistogram is the gdbstub round-trip histogram of one VM.
func stubHistogram(rt vmi.StubRoundTrips, vm string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(rt.Buckets))
	for i, b := range rt.Buckets {
		if i < len(rt.Cumulative) {
			buckets[b] = rt.Cumulative[i]
		}
	}
	return prometheus.MustNewConstHistogram(vmStub, rt.Count, rt.Sum.Seconds(), buckets, vm)
}
