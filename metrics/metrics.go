package metrics

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/frostvmi/frost/session"
)

// Metrics is frostd's metric registry. Its own registry (not the global
// default) keeps it to what frostd registers, and lets tests make several.
type Metrics struct {
	reg  *prometheus.Registry
	rpcs *prometheus.CounterVec
	dur  *prometheus.HistogramVec
}

// New registers the process collectors, the RPC counters, and a collector
// of the VMs sessions holds (nil: none).
func New(sessions *session.Registry) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frost_rpcs_total",
			Help: "gRPC calls handled, by full method and status code.",
		}, []string{"method", "code"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frost_rpc_duration_seconds",
			Help:    "gRPC call duration (a stream's whole life), by full method.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 12), // 50 µs … ~210 s
		}, []string{"method"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.rpcs, m.dur,
	)
	if sessions != nil {
		m.reg.MustRegister(&vmCollector{sessions: sessions})
	}
	return m
}

// Registry is the registry, for a test or another exporter.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics, and net/http/pprof under /debug/pprof/ when
// withPprof: profiles show guest data in memory and cost CPU, so they are
// an explicit opt-in on top of the metrics.
func (m *Metrics) Handler(withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
