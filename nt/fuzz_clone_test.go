package nt

import "testing"

// fuzzCopy is g with its own copy of g's memory, for t: a fuzz target
// lays its seed state out once and gives each input a copy to overwrite,
// instead of laying it out again per input (which held the real-layout
// targets to 30-70 inputs a second).
func (g *guest) fuzzCopy(t testing.TB) *guest {
	m := newFakeMemory()
	for a, pg := range g.mem.pages {
		cp := *pg
		m.pages[a] = &cp
	}
	return &guest{t: t, tab: g.tab, mem: m, next: g.next}
}
