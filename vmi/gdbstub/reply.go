package gdbstub

import (
	"bytes"
	"fmt"
)

// command names a request in errors: its leading letters ("m", "Z1",
// "qXfer"), never its data.
func command(payload []byte) string {
	end := bytes.IndexAny(payload, ",:;=0123456789")
	switch {
	case len(payload) > 0 && (payload[0] == 'Z' || payload[0] == 'z') && len(payload) > 1:
		return string(payload[:2])
	case end <= 0:
		return short(payload)
	}
	return string(payload[:end])
}

// replyData returns a request's reply, with the protocol's two refusals
// turned into errors: an empty packet (unsupported) and "Enn".
func replyData(r *request) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if len(r.reply) == 0 {
		return nil, fmt.Errorf("gdbstub: %s: %w", command(r.payload), ErrUnsupported)
	}
	if code, ok := parseErrorReply(r.reply); ok {
		return nil, &StubError{Request: command(r.payload), Code: code}
	}
	return r.reply, nil
}

// checkOK expects "OK".
func checkOK(r *request) error {
	data, err := replyData(r)
	if err != nil {
		return err
	}
	if string(data) != "OK" {
		return protocolErr("%s: reply %q, want OK", command(r.payload), short(data))
	}
	return nil
}

// req builds a request that expects one reply.
func req(format string, args ...any) *request {
	return &request{payload: fmt.Appendf(nil, format, args...)}
}

// selectThread is "Hg<thread>": the vCPU that g, G, p, P and m act on.
// It is sent in the same batch as those, every time: a stop also moves
// QEMU's selection to the stopped vCPU, so a remembered one goes stale.
func selectThread(t ThreadID) *request { return req("Hg%s", t) }
