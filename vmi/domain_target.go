package vmi

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/vmi/libvirt"
)

// AttachDomain takes charge of a running (or paused) libvirt domain, found
// by name or UUID: it starts the domain's gdbstub on a private socket
// (libvirt.Domain.Attach, through libvirt's QMP passthrough), connects,
// and removes any breakpoint a previous owner left. The guest is left
// stopped (connecting to the stub stops it): Resume it, or Close to let it
// run on untouched.
//
// Lifecycle events come from libvirt: its REBOOT event (a reset) and the
// domain stopping or crashing. QMP events do not pass through libvirt.
func AttachDomain(ctx context.Context, conn *LibvirtConn, name string, opt Options) (_ Target, err error) {
	dom, err := conn.Lookup(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("vmi: %w", err)
	}
	// Subscribe before attaching, so a reset during the attach is heard.
	evCtx, stopEvents := context.WithCancel(context.Background())
	events, err := dom.Events(evCtx)
	if err != nil {
		stopEvents()
		return nil, fmt.Errorf("vmi: %s: %w", dom.Name(), err)
	}
	defer func() {
		if err != nil {
			stopEvents()
		}
	}()
	att, err := dom.Attach(ctx, libvirt.AttachOptions{Dir: opt.SocketDir, TCP: opt.GDBTCP})
	if err != nil {
		return nil, fmt.Errorf("vmi: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, att.Close(context.WithoutCancel(ctx)))
		}
	}()
	stub := stubEndpoint{name: dom.Name(), network: att.Network, address: att.Address, pid: att.PID, mon: att.QMP.Monitor}
	gdb, mem, caps, stop, err := attachStub(ctx, stub, opt)
	if err != nil {
		return nil, err
	}
	return newGuest(stub, gdb, mem, caps, stop, backend{
		life: libvirtLifecycle(events),
		alive: func(ctx context.Context) bool {
			st, err := dom.State(ctx)
			return err == nil && (st == libvirt.StateRunning || st == libvirt.StatePaused)
		},
		release: func(ctx context.Context) error {
			stopEvents()
			return att.Close(ctx)
		},
	}), nil
}

// libvirtLifecycle turns the domain's libvirt events into lifecycle
// events. Suspended is left out: the stub reports every stop itself
// (libvirt sees each of ours as a suspend). Resumed is only a hint: the
// stub says nothing of a resume it did not cause, so the reconciler
// checks whether the guest runs behind our back.
func libvirtLifecycle(events <-chan libvirt.Event) lifecycleSource {
	return func(ctx context.Context, emit func(Event)) {
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				switch {
				case e.Lifecycle == libvirt.Resumed:
					emit(Event{Kind: hintResumed, Reason: "libvirt: " + e.String()})
				case e.Kind == libvirt.EventReboot:
					emit(Event{Kind: EventReset, Reason: "libvirt: " + e.String()})
				case e.Lifecycle == libvirt.Stopped, e.Lifecycle == libvirt.Shutdown, e.Lifecycle == libvirt.Crashed:
					emit(Event{Kind: EventShutdown, Reason: "libvirt: " + e.String()})
				}
			}
		}
	}
}
