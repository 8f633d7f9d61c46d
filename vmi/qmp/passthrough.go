package qmp

import (
	"context"
	"encoding/json"
	"fmt"
)

// SendFunc sends one QMP command, as JSON text, through some other
// channel to QEMU and returns QEMU's reply as JSON text. vmi/libvirt
// supplies one built on libvirt's QEMU monitor passthrough
// (virDomainQemuMonitorCommand with flags 0).
type SendFunc func(command string) (reply string, err error)

// Passthrough is the QMP command interface over a SendFunc. libvirt owns
// QEMU's QMP socket for the domains it manages; this is how Frost still
// speaks QMP to them. Each call is a libvirt round trip of 1-7 ms, and
// events do not come this way (vmi/libvirt has lifecycle events).
type Passthrough struct {
	*Monitor
	name string
	send SendFunc
}

// NewPassthrough runs QMP through send; name (the domain) labels errors.
func NewPassthrough(name string, send SendFunc) *Passthrough {
	p := &Passthrough{name: name, send: send}
	p.Monitor = NewMonitor(p)
	return p
}

// passthroughRequest has no id: libvirt adds its own.
type passthroughRequest struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

type sendResult struct {
	reply string
	err   error
}

// Execute runs command; see Executor. SendFunc cannot be cancelled, so
// when ctx ends first the call is left to finish in the background and
// its reply is dropped.
func (p *Passthrough) Execute(ctx context.Context, command string, args, result any) error {
	b, err := json.Marshal(passthroughRequest{Execute: command, Arguments: args})
	if err != nil {
		return fmt.Errorf("qmp: %s: encoding arguments: %w", command, err)
	}
	done := make(chan sendResult, 1)
	go func() {
		reply, err := p.send(string(b))
		done <- sendResult{reply, err}
	}()
	var r sendResult
	select {
	case r = <-done:
	case <-ctx.Done():
		return fmt.Errorf("qmp: %s via %s: %w", command, p.name, context.Cause(ctx))
	}
	if r.err != nil {
		return fmt.Errorf("qmp: %s via %s: %w", command, p.name, r.err)
	}
	var msg message
	if err := json.Unmarshal([]byte(r.reply), &msg); err != nil {
		return &ProtocolError{Msg: fmt.Sprintf("the reply to %s via %s is not JSON: %v", command, p.name, err)}
	}
	return decodeReply(command, msg, result)
}

var _ Executor = (*Passthrough)(nil)
