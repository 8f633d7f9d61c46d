package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostvmi/frost/breakpoints"
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
