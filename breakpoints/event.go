package breakpoints

import (
	"time"

	"github.com/frostvmi/frost/vmi"
)

// EventKind says what an Event reports.
type EventKind int

const (
	// EventHit: observers accepted a breakpoint hit (Hit, Observers).
	EventHit EventKind = iota + 1
	// EventStop: the guest stopped, and not at a breakpoint of this
	// manager (Stop). Whoever stopped it owns the stop; the manager
	// leaves the guest as it is.
	EventStop
	// EventReset: the guest reset; every observer was dropped (Removed).
	EventReset
	// EventShutdown: the guest powered off or QEMU exited.
	EventShutdown
	// EventGone: the target is gone (Err); the subscription ends.
	EventGone
	// EventResumed: someone outside Frost resumed the guest (virsh
	// resume, QMP cont, the end of virsh dump); an operator's Pause no
	// longer holds it (Reason says how Frost learned it).
	EventResumed
)

func (k EventKind) String() string {
	switch k {
	case EventHit:
		return "hit"
	case EventStop:
		return "stop"
	case EventReset:
		return "reset"
	case EventShutdown:
		return "shutdown"
	case EventGone:
		return "gone"
	case EventResumed:
		return "resumed"
	}
	return "unknown"
}

// Event is one thing a subscriber is told.
type Event struct {
	// Seq numbers the manager's events from 1, across all subscribers.
	Seq  uint64
	Kind EventKind
	Time time.Time

	// Hit and Observers (the IDs that accepted it) are set for EventHit.
	Hit       *Hit
	Observers []ID
	// ReturnOf names, for a hit at a call's return (Frame.BreakOnReturn),
	// the observers whose hits made the calls; Call is the call's hit.
	ReturnOf []ID
	Call     *Hit
	// Stop is set for EventStop.
	Stop *vmi.Stop
	// Removed lists the observers an EventReset dropped.
	Removed []ID
	// Reason and Err come from the target's lifecycle event.
	Reason string
	Err    error

	// Lost counts the events this subscriber lost, its queue being full,
	// between the previous event it got and this one.
	Lost uint64
	// Held: the guest waits at this hit until Subscription.Ack(Seq) or the
	// subscription's hold deadline. Edits, staged before the ack, are
	// applied with it.
	Held  bool
	Edits *Edits
}
