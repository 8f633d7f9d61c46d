package api

import (
	"sync"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/session"
)

// bpState is what the API keeps of a VM's breakpoints: the ones clients
// armed (as they asked for them, to list them back), and the Subscribe
// streams with their held hits' edits. The session's manager owns the
// breakpoints themselves.
type bpState struct {
	mu   sync.Mutex
	set  map[breakpoints.ID]*apiBreakpoint
	subs map[uint64]*subscription
	next uint64
}

// bookkeeping holds each session's bpState.
type bookkeeping struct {
	mu sync.Mutex
	of map[*session.Session]*bpState
}

// state returns s's bpState, making it on first use.
func (b *bookkeeping) state(s *session.Session) *bpState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.of == nil {
		b.of = map[*session.Session]*bpState{}
	}
	st := b.of[s]
	if st == nil {
		st = &bpState{set: map[breakpoints.ID]*apiBreakpoint{}, subs: map[uint64]*subscription{}}
		b.of[s] = st
	}
	return st
}

// forget drops a detached session's bookkeeping.
func (b *bookkeeping) forget(s *session.Session) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.of, s)
}
