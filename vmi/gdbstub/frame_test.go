package gdbstub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// decodeAll runs the decoder over a byte stream.
func decodeAll(in string, maxRaw, maxDecoded int) []frame {
	d := newDecoder()
	if maxRaw > 0 {
		d.maxRaw, d.maxDecoded = maxRaw, maxDecoded
	}
	var out []frame
	d.feed([]byte(in), func(f frame) error { out = append(out, f); return nil })
	return out
}

// frameReader reads frames from a connection one at a time, for tests
// that speak the protocol by hand.
type frameReader struct {
	r   io.Reader
	d   *decoder
	q   []frame
	err error
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r, d: newDecoder(), buf: make([]byte, 64<<10)}
}

func (fr *frameReader) next() (frame, error) {
	for len(fr.q) == 0 {
		if fr.err != nil {
			return frame{}, fr.err
		}
		n, err := fr.r.Read(fr.buf)
		fr.d.feed(fr.buf[:n], func(f frame) error { fr.q = append(fr.q, f); return nil })
		fr.err = err
	}
	f := fr.q[0]
	fr.q = fr.q[1:]
	return f, nil
}

func pkt(payload string) string { return string(appendPacket(nil, []byte(payload))) }

func TestDecoder(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []frame
	}{
		{"acks", "+-+", []frame{{kind: frameAck}, {kind: frameNak}, {kind: frameAck}}},
		{"packet", "$OK#9a", []frame{{kind: framePacket, data: []byte("OK")}}},
		{"upper-case checksum", "$OK#9A", []frame{{kind: framePacket, data: []byte("OK")}}},
		{"empty packet", "$#00", []frame{{kind: framePacket, data: []byte{}}}},
		{"garbage between frames", "\r\nzz+ $OK#9a", []frame{{kind: frameAck}, {kind: framePacket, data: []byte("OK")}}},
		{"bad checksum", "$OK#9b", []frame{{kind: framePacket, err: errChecksum}}},
		{"checksum not hex", "$OK#zz", []frame{{kind: framePacket, err: errChecksum}}},
		{"escape", "$a}\x03b#" + cs("a}\x03b"), []frame{{kind: framePacket, data: []byte("a#b")}}},
		{"run length", "$0* #" + cs("0* "), []frame{{kind: framePacket, data: []byte("0000")}}},
		{"run length of an escaped byte", "$}\x03*!#" + cs("}\x03*!"), []frame{{kind: framePacket, data: []byte("#####")}}},
		{"longest run", "$x*~#" + cs("x*~"), []frame{{kind: framePacket, data: []byte(strings.Repeat("x", 98))}}},
		{"run with nothing before", "$* #" + cs("* "), []frame{{kind: framePacket, err: &FrameError{}}}},
		{"run count too low", "$a*\x1f#" + cs("a*\x1f"), []frame{{kind: framePacket, err: &FrameError{}}}},
		{"escape at end", "$a}#" + cs("a}"), []frame{{kind: framePacket, err: &FrameError{}}}},
		{"notification", "%Stop:T05;#" + cs("Stop:T05;"), []frame{{kind: frameNotify, data: []byte("Stop:T05;")}}},
		{"restart on $", "$abc$OK#9a", []frame{{kind: framePacket, data: []byte("OK")}}},
		{"truncated", "$OK#9", nil},
		{"binary data", pkt("\x00\xff$#}*"), []frame{{kind: framePacket, data: []byte("\x00\xff$#}*")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAll(tt.in, 0, 0)
			if len(got) != len(tt.want) {
				t.Fatalf("%d frames %+v, want %d", len(got), got, len(tt.want))
			}
			for i, g := range got {
				w := tt.want[i]
				var fe *FrameError
				switch {
				case g.kind != w.kind:
					t.Errorf("frame %d kind %d, want %d", i, g.kind, w.kind)
				case w.err != nil && !errors.As(g.err, &fe):
					t.Errorf("frame %d: err %v, want a FrameError", i, g.err)
				case w.err == nil && (g.err != nil || !bytes.Equal(g.data, w.data)):
					t.Errorf("frame %d: %q, %v; want %q", i, g.data, g.err, w.data)
				}
			}
		})
	}
}

func cs(raw string) string {
	var s byte
	for i := 0; i < len(raw); i++ {
		s += raw[i]
	}
	return string([]byte{hexDigits[s>>4], hexDigits[s&0xf]})
}

func TestDecoderLimits(t *testing.T) {
	// Too long on the wire: dropped, the stream stays in sync.
	got := decodeAll(pkt(strings.Repeat("a", 100))+"$OK#9a", 64, 64)
	if len(got) != 2 || got[0].err != errFrameLarge || string(got[1].data) != "OK" {
		t.Errorf("oversized raw frame: %+v", got)
	}
	// Short on the wire, too long once expanded.
	raw := strings.Repeat("a*~", 10)
	got = decodeAll("$"+raw+"#"+cs(raw), 64, 500)
	if len(got) != 1 || got[0].err != errFrameLarge {
		t.Errorf("oversized expansion: %+v", got)
	}
}

func TestAppendPacketEscapes(t *testing.T) {
	got := string(appendPacket(nil, []byte("M0,1:}#$*")))
	if want := "$M0,1:}]}\x03}\x04}\x0a#" + cs("M0,1:}]}\x03}\x04}\x0a"); got != want {
		t.Errorf("appendPacket = %q, want %q", got, want)
	}
	if n := escapedLen([]byte("a}#")); n != 5 {
		t.Errorf("escapedLen = %d", n)
	}
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must never panic,
// never return more than its limits, and keep going to the end of the
// input. The same bytes, framed as a payload, must decode back to
// themselves.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"+$OK#9a", "-", "$#00", "$E22#ad", "$T05thread:p01.01;#" + cs("T05thread:p01.01;"),
		"$0* #" + cs("0* "), "$}\x03*!#" + cs("}\x03*!"), "%Stop:T05;#" + cs("Stop:T05;"),
		"$abc$OK#9a", "$* #00", "$a}#00", "$OK#zz", "\x03\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 256
		whole := decodeAll(string(data), limit, limit)
		for _, fr := range whole {
			if len(fr.data) > limit {
				t.Fatalf("frame of %d bytes past the %d limit", len(fr.data), limit)
			}
			if fr.err != nil && fr.data != nil {
				t.Fatal("a rejected frame carries data")
			}
		}
		if len(whole) > len(data) {
			t.Fatal("more frames than input bytes")
		}
		// Bytes arrive in whatever pieces the socket gives: the frames
		// must not depend on where a read ends.
		d := newDecoder()
		d.maxRaw, d.maxDecoded = limit, limit
		var pieces []frame
		collect := func(f frame) error { pieces = append(pieces, f); return nil }
		cut := len(data) / 3
		d.feed(data[:cut], collect)
		d.feed(data[cut:], collect)
		if describe(pieces) != describe(whole) {
			t.Fatalf("split at %d: %v, whole: %v", cut, pieces, whole)
		}
		if len(data) > limit {
			return
		}
		round := decodeAll(string(appendPacket(nil, data)), limit*2, limit)
		if len(round) != 1 || round[0].err != nil || !bytes.Equal(round[0].data, data) {
			t.Fatalf("round trip of %q: %+v", data, round)
		}
	})
}

// describe prints frames with their errors' text, not their addresses.
func describe(frames []frame) string {
	var b strings.Builder
	for _, f := range frames {
		fmt.Fprintf(&b, "%d %q %v;", f.kind, f.data, f.err)
	}
	return b.String()
}
