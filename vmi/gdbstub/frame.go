package gdbstub

import (
	"fmt"
)

// The wire format: $payload#cs with cs the modulo-256 sum of the payload's
// bytes as two hex digits; '}' escapes the next byte (XOR 0x20); "X*n"
// repeats X n-29 more times; '+' and '-' acknowledge; %payload#cs is an
// asynchronous notification (non-stop mode only; ignored).

// Limits on what the decoder keeps. QEMU 7.2's largest reply is an "m" of
// 2048 bytes (4096 hex digits) or a 0xffb-byte qXfer chunk that escaping
// may double, so these leave room for larger stubs while bounding what a
// broken or hostile one can make us allocate.
const (
	maxFrameRaw     = 64 << 10 // bytes between '$' and '#'
	maxFrameDecoded = 64 << 10 // bytes after escapes and run lengths
)

type frameKind uint8

const (
	frameAck    frameKind = iota + 1 // '+'
	frameNak                         // '-'
	framePacket                      // $...#cs
	frameNotify                      // %...#cs
)

// frame is one unit read from the stub. For packets, err is a *FrameError
// when the frame cannot be used; data is then nil.
type frame struct {
	kind frameKind
	data []byte
	err  error
}

// FrameError says why a received frame was rejected.
type FrameError struct {
	Reason string
}

func (e *FrameError) Error() string { return "gdbstub: bad frame: " + e.Reason }

var (
	errChecksum   = &FrameError{Reason: "checksum mismatch"}
	errFrameLarge = &FrameError{Reason: "frame too large"}
)

// decoder turns the stub's byte stream into frames. It is fed whatever a
// read returned, so a frame may arrive in pieces; its state carries over.
// Bytes outside any frame are skipped: the protocol has no use for them.
type decoder struct {
	maxRaw     int
	maxDecoded int

	state    decodeState
	kind     frameKind
	raw      []byte // the frame so far; reused, the frames emitted get copies
	sum      byte
	tooLarge bool
	cs0      byte
}

type decodeState uint8

const (
	decodeIdle      decodeState = iota // between frames
	decodeBody                         // after '$' or '%'
	decodeChecksum                     // after '#'
	decodeChecksum2                    // after the first checksum digit
)

func newDecoder() *decoder {
	return &decoder{maxRaw: maxFrameRaw, maxDecoded: maxFrameDecoded}
}

// feed decodes p, calling emit for each complete frame in order. It stops
// at the first error emit returns.
func (d *decoder) feed(p []byte, emit func(frame) error) error {
	for _, b := range p {
		f, ok := d.step(b)
		if !ok {
			continue
		}
		if err := emit(f); err != nil {
			return err
		}
	}
	return nil
}

// step advances by one byte and reports a frame when one ends.
func (d *decoder) step(b byte) (frame, bool) {
	switch d.state {
	case decodeIdle:
		switch b {
		case '+':
			return frame{kind: frameAck}, true
		case '-':
			return frame{kind: frameNak}, true
		case '$':
			d.start(framePacket)
		case '%':
			d.start(frameNotify)
		}
	case decodeBody:
		switch {
		case b == '#':
			d.state = decodeChecksum
		case b == '$':
			// A new packet in the middle of one: the old one was cut
			// short (GDB's read_frame does the same).
			d.start(framePacket)
		default:
			d.sum += b
			if len(d.raw) >= d.maxRaw {
				d.tooLarge = true // keep scanning to the end, but stop storing
			} else {
				d.raw = append(d.raw, b)
			}
		}
	case decodeChecksum:
		d.cs0, d.state = b, decodeChecksum2
	case decodeChecksum2:
		d.state = decodeIdle
		return d.finish(b), true
	}
	return frame{}, false
}

func (d *decoder) start(kind frameKind) {
	d.state, d.kind = decodeBody, kind
	d.raw, d.sum, d.tooLarge = d.raw[:0], 0, false
}

func (d *decoder) finish(cs1 byte) frame {
	want, ok := parseHexByte(d.cs0, cs1)
	switch {
	case !ok || want != d.sum:
		return frame{kind: d.kind, err: errChecksum}
	case d.tooLarge:
		return frame{kind: d.kind, err: errFrameLarge}
	}
	data, err := unescape(d.raw, d.maxDecoded)
	if err != nil {
		return frame{kind: d.kind, err: err}
	}
	return frame{kind: d.kind, data: data}
}

// unescape undoes '}' escapes and "X*n" run lengths, in one pass as QEMU's
// own parser does: a repeat copies the previous decoded byte.
func unescape(raw []byte, max int) ([]byte, error) {
	out := make([]byte, 0, min(len(raw), max))
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		switch b {
		case '}':
			i++
			if i == len(raw) {
				return nil, &FrameError{Reason: "escape at end of packet"}
			}
			b = raw[i] ^ 0x20
		case '*':
			i++
			if i == len(raw) {
				return nil, &FrameError{Reason: "run length at end of packet"}
			}
			if len(out) == 0 {
				return nil, &FrameError{Reason: "run length with nothing to repeat"}
			}
			n := int(raw[i]) - 29
			if raw[i] < ' ' || raw[i] > '~' {
				return nil, &FrameError{Reason: fmt.Sprintf("run length count byte %#x", raw[i])}
			}
			if len(out)+n > max {
				return nil, errFrameLarge
			}
			prev := out[len(out)-1]
			for range n {
				out = append(out, prev)
			}
			continue
		}
		if len(out) >= max {
			return nil, errFrameLarge
		}
		out = append(out, b)
	}
	return out, nil
}

// needsEscape reports the bytes that may not appear literally in a packet.
func needsEscape(b byte) bool { return b == '$' || b == '#' || b == '}' || b == '*' }

// escapedLen is the payload's length on the wire, which is what the stub's
// buffer must hold.
func escapedLen(payload []byte) int {
	n := len(payload)
	for _, b := range payload {
		if needsEscape(b) {
			n++
		}
	}
	return n
}

// appendPacket frames payload as $payload#cs. It never run-length encodes:
// the stub does not need it and it would make the size check harder.
func appendPacket(dst, payload []byte) []byte {
	dst = append(dst, '$')
	var sum byte
	for _, b := range payload {
		if needsEscape(b) {
			dst = append(dst, '}')
			sum += '}'
			b ^= 0x20
		}
		dst = append(dst, b)
		sum += b
	}
	return append(dst, '#', hexDigits[sum>>4], hexDigits[sum&0xf])
}
