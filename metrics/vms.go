package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostvmi/frost/session"
)

var (
	vmRunning = prometheus.NewDesc("frost_vm_running",
		"1 while the guest runs, 0 while it is stopped (a breakpoint, a pause, a hold).", []string{"vm"}, nil)
	vmAttached = prometheus.NewDesc("frost_vm_attached_seconds",
		"How long frostd has held the VM.", []string{"vm"}, nil)
	bpHits = prometheus.NewDesc("frost_breakpoint_hits_total",
		"Hits of a client-armed breakpoint delivered to subscribers.", []string{"vm", "breakpoint"}, nil)
	subLost = prometheus.NewDesc("frost_subscriber_events_dropped_total",
		"Events a subscriber lost to its full queue (a slow reader drops events rather than holding the guest).",
		[]string{"vm", "subscription"}, nil)
	vmsHeld = prometheus.NewDesc("frost_vms_attached", "VMs frostd holds.", nil, nil)
	vmHits  = prometheus.NewDesc("frost_vm_breakpoint_hits_total",
		"Breakpoint hits an observer accepted (winboot's, monitors' and clients'), per VM.", []string{"vm"}, nil)
	vmHolds = prometheus.NewDesc("frost_hold_seconds",
		"How long held breakpoint hits kept the guest stopped, from delivery until every holder acked or its deadline passed.", []string{"vm"}, nil)
	vmStub = prometheus.NewDesc("frost_gdbstub_round_trip_seconds",
		"gdbstub request round trips, from sending a packet to its reply (resumes not counted).", []string{"vm"}, nil)
	vmRead = prometheus.NewDesc("frost_physical_read_bytes_total",
		"Guest-physical bytes read, by data-plane backend (mmap, procmem, gdbstub).", []string{"vm", "backend"}, nil)
)

// vmCollector reads the sessions at scrape time.
type vmCollector struct{ sessions *session.Registry }

func (c *vmCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range append([]*prometheus.Desc{vmRunning, vmAttached, bpHits, subLost, vmsHeld, vmHits, vmHolds, vmRead, vmStub}, translateDescs...) {
		ch <- d
	}
}

func (c *vmCollector) Collect(ch chan<- prometheus.Metric) {
	names := c.sessions.Names()
	n := 0
	for _, name := range names {
		s := c.sessions.Lookup(name)
		if s == nil {
			continue // detached since Names
		}
		n++
		st := s.Stats()
		ch <- prometheus.MustNewConstMetric(vmRunning, prometheus.GaugeValue, b2f(st.Running), name)
		ch <- prometheus.MustNewConstMetric(vmAttached, prometheus.GaugeValue, timeSince(s), name)
		ch <- prometheus.MustNewConstMetric(vmHits, prometheus.CounterValue, float64(st.Hits), name)
		ch <- holdHistogram(st.Holds, name)
		if st.Read.Backend != "" {
			ch <- prometheus.MustNewConstMetric(vmRead, prometheus.CounterValue, float64(st.Read.Bytes), name, st.Read.Backend)
		}
		if len(st.Stub.Buckets) > 0 {
			ch <- stubHistogram(st.Stub, name)
		}
		collectTranslate(ch, name, s.TranslateStats())
		for _, b := range st.Breakpoints {
			ch <- prometheus.MustNewConstMetric(bpHits, prometheus.CounterValue, float64(b.Hits), name, strconv.FormatUint(b.ID, 10))
		}
		for _, sub := range st.Subscribers {
			ch <- prometheus.MustNewConstMetric(subLost, prometheus.CounterValue, float64(sub.Lost), name, strconv.FormatUint(sub.ID, 10))
		}
	}
	ch <- prometheus.MustNewConstMetric(vmsHeld, prometheus.GaugeValue, float64(n))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
