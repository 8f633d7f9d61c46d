package gdbstub

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeAll runs the decoder over a byte stream.
func decodeAll(in string, maxRaw, maxDecoded int) []frame {
	d := newDecoder(bufio.NewReader(strings.NewReader(in)))
	if maxRaw > 0 {
		d.maxRaw, d.maxDecoded = maxRaw, maxDecoded
	}
	var out []frame
	for {
		f, err := d.next()
		if err != nil {
			return out
		}
		out = append(out, f)
	}
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
		d := newDecoder(bufio.NewReader(bytes.NewReader(data)))
		d.maxRaw, d.maxDecoded = limit, limit
		for n := 0; ; n++ {
			fr, err := d.next()
			if err != nil {
				if err != io.EOF {
					t.Fatalf("decoder error %v", err)
				}
				break
			}
			if len(fr.data) > limit {
				t.Fatalf("frame of %d bytes past the %d limit", len(fr.data), limit)
			}
			if fr.err != nil && fr.data != nil {
				t.Fatal("a rejected frame carries data")
			}
			if n > len(data) {
				t.Fatal("more frames than input bytes")
			}
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
