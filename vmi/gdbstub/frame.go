package gdbstub

import (
	"bufio"
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

// decoder turns the stub's byte stream into frames.
type decoder struct {
	r          *bufio.Reader
	maxRaw     int
	maxDecoded int
	raw        []byte // reused between frames; data is always a fresh copy
}

func newDecoder(r *bufio.Reader) *decoder {
	return &decoder{r: r, maxRaw: maxFrameRaw, maxDecoded: maxFrameDecoded}
}

// next returns the next frame, skipping bytes that belong to none (the
// protocol has no other use for them). Its error is only ever the reader's.
func (d *decoder) next() (frame, error) {
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		switch b {
		case '+':
			return frame{kind: frameAck}, nil
		case '-':
			return frame{kind: frameNak}, nil
		case '$':
			return d.body(framePacket)
		case '%':
			return d.body(frameNotify)
		}
	}
}

// body reads from after the opening '$' or '%' to the end of the checksum.
func (d *decoder) body(kind frameKind) (frame, error) {
restart:
	d.raw = d.raw[:0]
	var sum byte
	tooLarge := false
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		if b == '#' {
			break
		}
		if b == '$' {
			// A new packet in the middle of one: the old one was cut
			// short (GDB's read_frame does the same).
			kind = framePacket
			goto restart
		}
		sum += b
		if len(d.raw) >= d.maxRaw {
			tooLarge = true // keep scanning to the end, but stop storing
			continue
		}
		d.raw = append(d.raw, b)
	}
	var cs [2]byte
	for i := range cs {
		b, err := d.r.ReadByte()
		if err != nil {
			return frame{}, err
		}
		cs[i] = b
	}
	want, ok := parseHexByte(cs[0], cs[1])
	switch {
	case !ok || want != sum:
		return frame{kind: kind, err: errChecksum}, nil
	case tooLarge:
		return frame{kind: kind, err: errFrameLarge}, nil
	}
	data, err := unescape(d.raw, d.maxDecoded)
	if err != nil {
		return frame{kind: kind, err: err}, nil
	}
	return frame{kind: kind, data: data}, nil
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
