// Package metrics exposes frostd's Prometheus metrics: per process (the Go
// runtime's collector, RPCs by method and code from a gRPC interceptor) and
// per attached VM (run state, breakpoint hits, events each subscriber lost),
// pulled from the sessions at scrape time, so nothing below this package
// imports it or pays for it between scrapes.
//
// The endpoint has no authentication: serve it only on loopback or a unix
// socket (frostd refuses other addresses), beside pprof when asked for.
package metrics
