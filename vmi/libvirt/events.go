package libvirt

import (
	"context"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// EventKind says which libvirt event an Event is.
type EventKind int

const (
	// EventLifecycle is a state change (VIR_DOMAIN_EVENT_ID_LIFECYCLE).
	EventLifecycle EventKind = iota + 1
	// EventReboot is a guest reset (VIR_DOMAIN_EVENT_ID_REBOOT). libvirt
	// reports it apart from lifecycle events: the domain stays running.
	EventReboot
)

// Lifecycle is the kind of a lifecycle event (virDomainEventType).
type Lifecycle int32

const (
	Defined     Lifecycle = Lifecycle(golibvirt.DomainEventDefined)
	Undefined   Lifecycle = Lifecycle(golibvirt.DomainEventUndefined)
	Started     Lifecycle = Lifecycle(golibvirt.DomainEventStarted)
	Suspended   Lifecycle = Lifecycle(golibvirt.DomainEventSuspended) // includes a gdbstub stop
	Resumed     Lifecycle = Lifecycle(golibvirt.DomainEventResumed)
	Stopped     Lifecycle = Lifecycle(golibvirt.DomainEventStopped)
	Shutdown    Lifecycle = Lifecycle(golibvirt.DomainEventShutdown)
	PMSuspended Lifecycle = Lifecycle(golibvirt.DomainEventPmsuspended)
	Crashed     Lifecycle = Lifecycle(golibvirt.DomainEventCrashed)
)

func (l Lifecycle) String() string {
	names := map[Lifecycle]string{Defined: "defined", Undefined: "undefined", Started: "started", Suspended: "suspended",
		Resumed: "resumed", Stopped: "stopped", Shutdown: "shutdown", PMSuspended: "pm-suspended", Crashed: "crashed"}
	if s, ok := names[l]; ok {
		return s
	}
	return fmt.Sprintf("Lifecycle(%d)", int32(l))
}

// Event is a domain event from libvirtd.
type Event struct {
	Kind   EventKind
	Domain string // name
	UUID   string
	// Lifecycle and Detail are set for EventLifecycle. Detail is the
	// per-kind virDomainEvent*DetailType, e.g. why a domain stopped.
	Lifecycle Lifecycle
	Detail    int32
}

func (e Event) String() string {
	if e.Kind == EventReboot {
		return "domain " + e.Domain + " rebooted"
	}
	return fmt.Sprintf("domain %s %s (detail %d)", e.Domain, e.Lifecycle, e.Detail)
}

// Events delivers lifecycle and REBOOT events of every domain, in the
// order libvirtd sends each kind, until ctx ends or the connection is
// lost; then the channel closes. Each caller has its own unbounded queue,
// so a slow reader delays only its own events and never blocks libvirt's
// connection. libvirt's QEMU monitor events are not used: go-libvirt drops
// STOP and RESUME there (null details).
//
// The connection subscribes to libvirtd once, on the first call, and
// stays subscribed until it closes: go-libvirt deadlocks the whole
// connection if an event arrives while a subscription is being cancelled
// (it shuts the stream down before deregistering, and its router then
// blocks pushing into the dead stream: go-libvirt issue #191). Ending ctx
// only removes this caller from the fan-out.
func (c *Conn) Events(ctx context.Context) (<-chan Event, error) {
	f, err := c.eventFanout()
	if err != nil {
		return nil, err
	}
	return f.subscribe(ctx), nil
}

// eventFanout subscribes to libvirtd's events the first time it is asked.
func (c *Conn) eventFanout() (*fanout, error) {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	if c.events != nil && !c.events.isEnded() {
		return c.events, nil
	}
	c.events = nil // its connection is gone: subscribe on the new one
	l, err := c.lib()
	if err != nil {
		return nil, fmt.Errorf("libvirt: subscribing to events: %w", err)
	}
	// Never cancelled: see Events.
	life, err := l.LifecycleEvents(context.Background())
	if err != nil {
		return nil, wrap("subscribing to lifecycle events", err)
	}
	reboot, err := l.SubscribeEvents(context.Background(), golibvirt.DomainEventIDReboot, nil)
	if err != nil {
		// The lifecycle subscription stays: cancelling it is what
		// deadlocks. It ends with the connection.
		return nil, wrap("subscribing to reboot events", err)
	}
	c.events = newFanout()
	go c.events.run(life, reboot)
	return c.events, nil
}

// Events delivers the events of this domain only, until ctx ends; see
// Conn.Events. Unlike Conn.Events it outlives a libvirtd restart: once the
// Conn has reconnected it subscribes again (events sent while libvirtd
// was away are lost), so a target attached before the restart keeps
// hearing of its domain.
func (d *Domain) Events(ctx context.Context) (<-chan Event, error) {
	all, err := d.c.Events(ctx)
	if err != nil {
		return nil, err
	}
	uuid := d.UUID()
	out := make(chan Event)
	go func() {
		defer close(out)
		for all != nil {
			for e := range all {
				if e.UUID != uuid {
					continue
				}
				select {
				case out <- e:
				case <-ctx.Done():
				}
			}
			all = d.c.resubscribe(ctx)
		}
	}()
	return out, nil
}

// resubscribe waits for the connection to be up again and subscribes
// anew; nil once ctx ends or the Conn is closed.
func (c *Conn) resubscribe(ctx context.Context) <-chan Event {
	for wait := backoffFirst; ; wait = min(2*wait, backoffMax) {
		if ctx.Err() != nil || c.isClosed() {
			return nil
		}
		if c.Up() {
			if ch, err := c.Events(ctx); err == nil {
				return ch
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}
