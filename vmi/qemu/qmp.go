package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// qmpTimeout bounds a QMP exchange when ctx has no earlier deadline.
const qmpTimeout = 30 * time.Second

// Resume starts the vCPUs of a machine started Paused. It speaks just
// enough QMP for that (greeting, qmp_capabilities, cont). vmi/qmp is the
// full client, but its greeting does not skip a previous connection's
// leftover events (see qmpGreeting), which back-to-back Pause and Resume
// meet on this socket.
func (m *Machine) Resume(ctx context.Context) error {
	return qmpCommands(ctx, m.qmp, "cont")
}

// Pause stops the vCPUs. QEMU drains in-flight disk I/O first, so the disk
// image then holds everything the guest has written.
func (m *Machine) Pause(ctx context.Context) error {
	return qmpCommands(ctx, m.qmp, "stop")
}

// qmpCommands runs commands, in order, on a fresh QMP connection.
func qmpCommands(ctx context.Context, socket string, commands ...string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("qemu: QMP: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(qmpTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	// Unblock reads and writes at once if ctx is cancelled.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	dec := json.NewDecoder(conn)
	if err := qmpGreeting(dec); err != nil {
		return err
	}
	enc := json.NewEncoder(conn)
	for _, cmd := range append([]string{"qmp_capabilities"}, commands...) {
		if err := enc.Encode(map[string]string{"execute": cmd}); err != nil {
			return fmt.Errorf("qemu: QMP %s: %w", cmd, err)
		}
		if err := qmpReply(dec, cmd); err != nil {
			return err
		}
	}
	return nil
}

// qmpGreeting reads QMP's greeting. QEMU can hand the previous client's
// undelivered events (the RESUME after its `cont`) to the next connection
// ahead of the greeting, when they connect back to back: those are skipped.
func qmpGreeting(dec *json.Decoder) error {
	for {
		var msg struct {
			QMP   *json.RawMessage `json:"QMP"`
			Event string           `json:"event"`
		}
		if err := dec.Decode(&msg); err != nil {
			return fmt.Errorf("qemu: QMP greeting: %w", err)
		}
		switch {
		case msg.QMP != nil:
			return nil
		case msg.Event == "":
			return fmt.Errorf("qemu: QMP greeting: neither a greeting nor an event")
		}
	}
}

// qmpReply reads until the reply to cmd, skipping asynchronous events such
// as RESUME that QEMU may send first.
func qmpReply(dec *json.Decoder, cmd string) error {
	for {
		var msg struct {
			Return *json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := dec.Decode(&msg); err != nil {
			return fmt.Errorf("qemu: QMP %s: %w", cmd, err)
		}
		switch {
		case msg.Error != nil:
			return fmt.Errorf("qemu: QMP %s: %s: %s", cmd, msg.Error.Class, msg.Error.Desc)
		case msg.Return != nil:
			return nil
		}
	}
}
