package qmp

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Event names QEMU sends that Frost acts on.
const (
	EventShutdown      = "SHUTDOWN"  // QEMU shuts down (a guest reset too, under -no-reboot)
	EventReset         = "RESET"     // the machine was reset; the guest reboots
	EventStop          = "STOP"      // vCPUs stopped: stop, a gdbstub stop, a breakpoint
	EventResume        = "RESUME"    // vCPUs run again
	EventPowerdown     = "POWERDOWN" // an ACPI power button press was requested
	EventGuestPanicked = "GUEST_PANICKED"
	EventSuspend       = "SUSPEND"
	EventWakeup        = "WAKEUP"
)

// Event is one asynchronous QMP event.
type Event struct {
	Name string          // e.g. EventShutdown
	Data json.RawMessage // the event's "data", or nil
	Time time.Time       // QEMU's timestamp
}

// Reason is data.reason, which SHUTDOWN and RESET carry (e.g.
// "host-qmp-quit", "guest-reset"); "" for other events.
func (e Event) Reason() string {
	var d struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	return d.Reason
}

// Guest is data.guest: whether the guest itself caused a SHUTDOWN or
// RESET rather than the host.
func (e Event) Guest() bool {
	var d struct {
		Guest bool `json:"guest"`
	}
	return json.Unmarshal(e.Data, &d) == nil && d.Guest
}

// maxQueuedEvents bounds the events kept for a reader that does not read:
// a stuck consumer must cost bounded memory, not stall replies.
const maxQueuedEvents = 1024

// eventQueue decouples the socket reader from whoever reads events: push
// never blocks, and run delivers in order on out.
type eventQueue struct {
	mu      sync.Mutex
	queue   []Event
	ended   bool // no more pushes; close out once queue drains
	wake    chan struct{}
	quit    chan struct{}
	stopped sync.Once
	out     chan Event
	dropped atomic.Uint64
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), quit: make(chan struct{}), out: make(chan Event)}
}

func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	if len(q.queue) >= maxQueuedEvents {
		q.queue = q.queue[1:]
		q.dropped.Add(1)
	}
	q.queue = append(q.queue, e)
	q.mu.Unlock()
	q.notify()
}

func (q *eventQueue) end() {
	q.mu.Lock()
	q.ended = true
	q.mu.Unlock()
	q.notify()
}

// stop makes run return without delivering what is left.
func (q *eventQueue) stop() { q.stopped.Do(func() { close(q.quit) }) }

func (q *eventQueue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run() {
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			ended := q.ended
			q.mu.Unlock()
			if ended {
				return
			}
			select {
			case <-q.wake:
				continue
			case <-q.quit:
				return
			}
		}
		e := q.queue[0]
		q.queue = q.queue[1:]
		q.mu.Unlock()
		select {
		case q.out <- e:
		case <-q.quit:
			return
		}
	}
}
