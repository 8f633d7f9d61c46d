package libvirt

import (
	"context"
	"sync"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// fanout hands the connection's one event subscription to every Events
// caller, each through its own queue.
type fanout struct {
	mu    sync.Mutex
	subs  map[*subscriber]bool
	ended bool // the connection's streams ended: no more events
}

func newFanout() *fanout { return &fanout{subs: map[*subscriber]bool{}} }

// subscriber is one Events caller: an unbounded queue drained into out.
type subscriber struct {
	mu     sync.Mutex
	queue  []Event
	ended  bool
	wake   chan struct{} // signalled when queue or ended changes
	out    chan Event
	remove func()
}

// subscribe adds a subscriber that lives until ctx ends or the events do.
func (f *fanout) subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan Event)}
	f.mu.Lock()
	if f.ended {
		s.ended = true
	} else {
		f.subs[s] = true
	}
	f.mu.Unlock()
	s.remove = func() {
		f.mu.Lock()
		delete(f.subs, s)
		f.mu.Unlock()
	}
	go s.drain(ctx)
	return s.out
}

// run merges the two go-libvirt streams and fans each event out, until
// either ends (the connection is gone).
func (f *fanout) run(life <-chan golibvirt.DomainEventLifecycleMsg, reboot <-chan interface{}) {
	defer f.end()
	for {
		var e Event
		select {
		case m, ok := <-life:
			if !ok {
				return
			}
			e = Event{Kind: EventLifecycle, Domain: m.Dom.Name, UUID: formatUUID(m.Dom.UUID), Lifecycle: Lifecycle(m.Event), Detail: m.Detail}
		case m, ok := <-reboot:
			if !ok {
				return
			}
			r, isReboot := m.(*golibvirt.DomainEventCallbackRebootMsg)
			if !isReboot {
				continue
			}
			e = Event{Kind: EventReboot, Domain: r.Msg.Dom.Name, UUID: formatUUID(r.Msg.Dom.UUID)}
		}
		f.mu.Lock()
		for s := range f.subs {
			s.push(e)
		}
		f.mu.Unlock()
	}
}

// isEnded says whether the connection's streams have ended.
func (f *fanout) isEnded() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

// end closes every subscriber once the streams are gone.
func (f *fanout) end() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	for s := range f.subs {
		s.finish()
	}
	clear(f.subs)
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	s.signal()
}

func (s *subscriber) finish() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.signal()
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// drain delivers the queue in order, then closes out when the events end
// (after what was queued) or at once when ctx ends.
func (s *subscriber) drain(ctx context.Context) {
	defer close(s.out)
	defer s.remove()
	for {
		s.mu.Lock()
		var next *Event
		if len(s.queue) > 0 {
			next = &s.queue[0]
		}
		ended := s.ended
		s.mu.Unlock()
		if next == nil {
			if ended {
				return
			}
			select {
			case <-s.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		select {
		case s.out <- *next:
			s.mu.Lock()
			s.queue = s.queue[1:]
			s.mu.Unlock()
		case <-ctx.Done():
			return
		}
	}
}
