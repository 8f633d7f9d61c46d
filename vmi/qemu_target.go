package vmi

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/frostvmi/frost/vmi/qemu"
	"github.com/frostvmi/frost/vmi/qmp"
)

// QEMUEndpoints say where a QEMU that Frost launched (or that was launched
// for it) listens.
type QEMUEndpoints struct {
	// Name labels the guest in errors and logs.
	Name string
	// GDBNetwork and GDBAddress are the gdbstub's, as net.Dial takes them.
	GDBNetwork, GDBAddress string
	// QMPSocket is a QMP monitor socket the target may hold for its whole
	// life. QEMU serves one client per socket, so it must not be one that
	// anything else dials (give QEMU a second -qmp).
	QMPSocket string
	// PID is QEMU's process id (0 if unknown): physmem needs it for a
	// memfd or /proc/<pid>/mem.
	PID int
}

// OpenQEMU takes charge of a QEMU launched by vmi/qemu, through its
// gdbstub and its second QMP monitor (Machine.TargetQMPSocket), leaving the
// first to Machine.Pause and Resume. See DialQEMU.
func OpenQEMU(ctx context.Context, m *qemu.Machine, opt Options) (Target, error) {
	network, address := m.GDBAddr()
	return DialQEMU(ctx, QEMUEndpoints{
		Name:       filepath.Base(m.Dir()),
		GDBNetwork: network, GDBAddress: address,
		QMPSocket: m.TargetQMPSocket(),
		PID:       m.PID(),
	}, opt)
}

// DialQEMU takes charge of a QEMU at ep. The guest is left stopped (the
// attach stops it): arm breakpoints, then Resume. Lifecycle events come
// from QMP: RESET, SHUTDOWN, and the end of the connections when QEMU
// exits.
func DialQEMU(ctx context.Context, ep QEMUEndpoints, opt Options) (_ Target, err error) {
	if ep.Name == "" {
		ep.Name = ep.GDBAddress
	}
	qc, err := qmp.Dial(ctx, ep.QMPSocket)
	if err != nil {
		return nil, fmt.Errorf("vmi: %s: QMP: %w", ep.Name, err)
	}
	defer func() {
		if err != nil {
			qc.Close()
		}
	}()
	stub := stubEndpoint{name: ep.Name, network: ep.GDBNetwork, address: ep.GDBAddress, pid: ep.PID, mon: qc.Monitor}
	gdb, mem, caps, stop, err := attachStub(ctx, stub, opt)
	if err != nil {
		return nil, err
	}
	return newGuest(stub, gdb, mem, caps, stop, backend{
		life: qmpLifecycle(qc),
		// QEMU closes its QMP socket when it exits.
		alive: func(context.Context) bool {
			select {
			case <-qc.Done():
				return false
			default:
				return true
			}
		},
		release: func(context.Context) error { return qc.Close() },
	}), nil
}

// qmpLifecycle turns QEMU's QMP events into lifecycle events, until QEMU
// closes the connection (it exited) or the target closes.
func qmpLifecycle(qc *qmp.Client) lifecycleSource {
	return func(ctx context.Context, emit func(Event)) {
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-qc.Events():
				if !ok {
					return
				}
				switch e.Name {
				case qmp.EventReset:
					emit(Event{Kind: EventReset, Time: e.Time, Reason: e.Reason()})
				case qmp.EventResume:
					// Ours (a continue) or an operator's: the
					// reconciler tells them apart.
					emit(Event{Kind: hintResumed, Time: e.Time, Reason: "QMP RESUME"})
				case qmp.EventShutdown:
					// A reset under -no-reboot is a shutdown too
					// (reason "guest-reset").
					emit(Event{Kind: EventShutdown, Time: e.Time, Reason: e.Reason()})
				}
			}
		}
	}
}
