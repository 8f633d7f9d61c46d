package libvirt

import (
	"context"
	"fmt"

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
// lost; then the channel closes. go-libvirt queues events without bound,
// so a slow reader delays events but never blocks libvirt's connection. libvirt's QEMU monitor events are not
// used: go-libvirt drops STOP and RESUME there (null details).
func (c *Conn) Events(ctx context.Context) (<-chan Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	life, err := c.l.LifecycleEvents(ctx)
	if err != nil {
		cancel()
		return nil, wrap("subscribing to lifecycle events", err)
	}
	reboot, err := c.l.SubscribeEvents(ctx, golibvirt.DomainEventIDReboot, nil)
	if err != nil {
		cancel()
		for range life {
		}
		return nil, wrap("subscribing to reboot events", err)
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		defer cancel()
		for life != nil || reboot != nil {
			var e Event
			select {
			case m, ok := <-life:
				if !ok {
					life = nil
					cancel() // one stream ended (lost connection): end both
					continue
				}
				e = Event{Kind: EventLifecycle, Domain: m.Dom.Name, UUID: formatUUID(m.Dom.UUID), Lifecycle: Lifecycle(m.Event), Detail: m.Detail}
			case m, ok := <-reboot:
				if !ok {
					reboot = nil
					cancel()
					continue
				}
				r, isReboot := m.(*golibvirt.DomainEventCallbackRebootMsg)
				if !isReboot {
					continue
				}
				e = Event{Kind: EventReboot, Domain: r.Msg.Dom.Name, UUID: formatUUID(r.Msg.Dom.UUID)}
			}
			select {
			case out <- e:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}

// Events delivers the events of this domain only; see Conn.Events.
func (d *Domain) Events(ctx context.Context) (<-chan Event, error) {
	all, err := d.c.Events(ctx)
	if err != nil {
		return nil, err
	}
	uuid := d.UUID()
	out := make(chan Event)
	go func() {
		defer close(out)
		for e := range all {
			if e.UUID != uuid {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
			}
		}
	}()
	return out, nil
}
