package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostvmi/frost/session"
)

var bootPhase = prometheus.NewDesc("frost_boot_phase_seconds",
	"How long each stage of the VM's latest Boot took (accepted, starting, attached, winboot's waits), from its first step to the next stage's.",
	[]string{"vm", "stage"}, nil)

// WatchBoots adds the boot phases of the boots b runs to the scrape.
func (m *Metrics) WatchBoots(b *session.Booter) {
	m.reg.MustRegister(bootCollector{b})
}

type bootCollector struct{ b *session.Booter }

func (c bootCollector) Describe(ch chan<- *prometheus.Desc) { ch <- bootPhase }

func (c bootCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.b.Phases() {
		ch <- prometheus.MustNewConstMetric(bootPhase, prometheus.GaugeValue, p.Seconds, p.VM, p.Stage)
	}
}
