package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostvmi/frost/translate"
)

var (
	tlbLookups = prometheus.NewDesc("frost_translate_tlb_lookups_total",
		"Translation TLB lookups by reads of a stopped guest, one per page, by result (hit, miss). "+
			"Reads of a running guest bypass the TLB and make none.", []string{"vm", "result"}, nil)
	tablesLookups = prometheus.NewDesc("frost_translate_walk_cache_lookups_total",
		"Lookups of the page walk's own caches on TLB misses, by cache (pde: the page table of a 2 MiB region; "+
			"table: one entry of a cached page-table page) and result (hit, miss).", []string{"vm", "cache", "result"}, nil)
	pagesServed = prometheus.NewDesc("frost_translate_pages_total",
		"Pages virtual reads served, by the state of the page's PTE (valid_4k, prototype, pagefile, ...) "+
			"or, for a failed translation, error_<kind>.", []string{"vm", "state"}, nil)
)

var translateDescs = []*prometheus.Desc{tlbLookups, tablesLookups, pagesServed}

// collectTranslate emits one VM's translation counters. Every state is
// emitted, zero too, so a rate over any of them starts from the attach.
func collectTranslate(ch chan<- prometheus.Metric, vm string, st translate.Stats) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{vm}, labels...)...)
	}
	counter(tlbLookups, st.TLBHits, "hit")
	counter(tlbLookups, st.TLBMisses, "miss")
	counter(tablesLookups, st.PDEHits, "pde", "hit")
	counter(tablesLookups, st.PDEMisses, "pde", "miss")
	counter(tablesLookups, st.TableHits, "table", "hit")
	counter(tablesLookups, st.TableMisses, "table", "miss")
	for i, n := range st.Pages {
		counter(pagesServed, n, translate.PageState(i).String())
	}
}
