package gdbstub

import (
	"fmt"
	"strings"
)

// Signals QEMU reports in stop replies.
const (
	SignalInt  = 2 // T02: stopped by an interrupt (0x03, attach, QMP stop)
	SignalTrap = 5 // T05: breakpoint, watchpoint or single-step
)

// Stop is one stop reply, with the stopped vCPU's registers as "g" read
// them right after the stop.
type Stop struct {
	// Seq numbers the stops seen on this connection, from 1. A Stop with a
	// higher Seq happened later.
	Seq uint64
	// Signal is the stop's signal (SignalTrap, SignalInt, ...), or for an
	// exit the exit status or terminating signal.
	Signal int
	// Thread is the vCPU that stopped; zero when the stub named none.
	Thread ThreadID
	// Watch is set when a watchpoint triggered.
	Watch *WatchHit
	// SWBreak and HWBreak are set when the stub says so (QEMU 7.2 does
	// not: a T05 at a breakpoint's address is how it reports a hit).
	SWBreak, HWBreak bool
	// Exited is set for W (exit status in Signal), Terminated for X.
	Exited, Terminated bool
	// Registers is the snapshot of Thread read after the stop; nil when
	// it could not be read (RegistersErr says why) or there was no thread.
	Registers    *Registers
	RegistersErr error
	// Raw is the stop reply as received.
	Raw string
	// Outside is set on a T02 this client did not ask for (no 0x03, no
	// "?"): someone else paused the guest (QMP stop, virsh suspend, a
	// dump), or see Stray.
	Outside bool
	// Stray is set on an Outside stop that came while the client believed
	// the guest stopped and had packets in flight: the guest had been
	// resumed behind its back, and the guard byte ahead of those packets
	// is what stopped it. With RestoreStrays on, the client resumes it.
	Stray bool
}

// WatchHit is the watchpoint a stop reports.
type WatchHit struct {
	Kind BreakpointKind // WriteWatch, ReadWatch or AccessWatch
	Addr uint64
}

// isStopReply recognizes stop replies by shape, which is how the owner
// tells an unsolicited stop from the reply to a request: no reply to any
// request this client sends (hex data, OK, Enn, m/l lists, qSupported's
// PacketSize=..., ...) starts with T, S, W or X followed by hex.
func isStopReply(p []byte) bool {
	if len(p) < 3 {
		return false
	}
	switch p[0] {
	case 'T', 'S', 'W', 'X':
		_, ok := parseHexByte(p[1], p[2])
		return ok
	}
	return false
}

// isConsoleOutput recognizes "O<hex>" console output, which stubs may send
// at any time; it is never a reply to this client's requests.
func isConsoleOutput(p []byte) bool {
	if len(p) < 3 || p[0] != 'O' || len(p)%2 == 0 {
		return false
	}
	for _, c := range p[1:] {
		if _, ok := unhex(c); !ok {
			return false
		}
	}
	return true
}

// parseStop parses a T, S, W or X packet.
func parseStop(p []byte) (*Stop, error) {
	if !isStopReply(p) {
		return nil, protocolErr("not a stop reply: %q", p)
	}
	sig, _ := parseHexByte(p[1], p[2])
	s := &Stop{Signal: int(sig), Raw: string(p)}
	switch p[0] {
	case 'S':
		if len(p) != 3 {
			return nil, protocolErr("stop reply %q: junk after S", p)
		}
		return s, nil
	case 'W', 'X':
		s.Exited, s.Terminated = p[0] == 'W', p[0] == 'X'
		return s, nil // ";process:pid" may follow; one guest, one process
	}
	for _, field := range strings.Split(string(p[3:]), ";") {
		if field == "" {
			continue
		}
		key, value, ok := strings.Cut(field, ":")
		if !ok {
			return nil, protocolErr("stop reply %q: field %q is not key:value", p, field)
		}
		switch key {
		case "thread":
			t, err := ParseThreadID(value)
			if err != nil {
				return nil, &ProtocolError{Msg: err.Error()}
			}
			s.Thread = t
		case "watch", "rwatch", "awatch":
			addr, ok := parseHexUint(value)
			if !ok {
				return nil, protocolErr("stop reply %q: watch address %q", p, value)
			}
			kind := map[string]BreakpointKind{"watch": WriteWatch, "rwatch": ReadWatch, "awatch": AccessWatch}[key]
			s.Watch = &WatchHit{Kind: kind, Addr: addr}
		case "swbreak":
			s.SWBreak = true
		case "hwbreak":
			s.HWBreak = true
		default:
			// Register values (hex numbers as keys), core:, and reasons
			// this client does not use carry nothing it needs.
		}
	}
	return s, nil
}

func (s *Stop) String() string {
	if s == nil {
		return "<no stop>"
	}
	return fmt.Sprintf("stop #%d %q", s.Seq, s.Raw)
}
