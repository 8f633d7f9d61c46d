// Package metrics exposes frostd's Prometheus metrics: per process (the Go
// runtime's collector, RPCs by method and code from a gRPC interceptor) and
// per attached VM (run state, breakpoint hits, events each subscriber lost),
// pulled from the sessions at scrape time, so nothing below this package
// imports it or pays for it between scrapes.
//
// Translation is counted per VM: TLB lookups by result, pages served by
// the state of their PTE, and the walk caches' lookups. The TLB hit ratio
// is a ratio of rates, over whatever window the dashboard wants:
//
//	sum by (vm) (rate(frost_translate_tlb_lookups_total{result="hit"}[5m]))
//	  / sum by (vm) (rate(frost_translate_tlb_lookups_total[5m]))
//
// and the share of pages Frost could not serve from RAM is likewise
// frost_translate_pages_total's rate for those states over its total.
//
// The endpoint has no authentication: serve it only on loopback or a unix
// socket (frostd refuses other addresses), beside pprof when asked for.
package metrics
