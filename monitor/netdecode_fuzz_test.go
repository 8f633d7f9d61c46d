package monitor

import (
	"strings"
	"testing"
)

// maxFrame is the largest Ethernet frame a guest NIC sends (jumbo frames
// included); longer inputs add no decoding paths, only time.
const maxFrame = 9216

// FuzzDecodeFrame decodes arbitrary bytes as a frame the guest sent: the
// bytes come from guest memory (the NBL/MDL walk), so any of them must
// give a Decoded, never a panic; its summary stays one line and grows
// with the frame at most by a bounded factor; and every filter the
// monitor offers can match it without failing.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range [][]byte{arpRequest(f), pingRequest(f), dnsQuery(f), udpDatagram(f), tcpSyn(f), ip6Frame(f)} {
		f.Add(fr)
	}
	f.Add([]byte{})
	exprs := make([]*Expr, 0, 8)
	for _, s := range []string{"arp", "icmp", "dns", "udp and port 53", "tcp", "host 10.0.2.15", "ip6", "not udp and port 80"} {
		e, err := ParseExpr(s)
		if err != nil {
			f.Fatalf("ParseExpr(%q): %v", s, err)
		}
		exprs = append(exprs, e)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) > maxFrame {
			return
		}
		d := Decode(frame)
		if strings.ContainsAny(d.Summary, "\r\n") {
			t.Fatalf("summary of %d bytes is not one line: %q", len(frame), d.Summary)
		}
		if limit := 8*len(frame) + 512; len(d.Summary) > limit {
			t.Fatalf("summary of %d bytes for a %d-byte frame", len(d.Summary), len(frame))
		}
		for _, e := range exprs {
			e.Match(&d)
		}
	})
}
