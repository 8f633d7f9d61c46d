package monitor

import (
	"slices"
	"strings"
	"testing"
)

func TestDecodeSummaries(t *testing.T) {
	for _, c := range []struct {
		name   string
		frame  []byte
		layers []string
		has    []string
	}{
		{"arp", arpRequest(t), []string{"Ethernet", "ARP"}, []string{"ARP who-has 10.0.2.2 tell 10.0.2.15"}},
		{"ping", pingRequest(t), []string{"Ethernet", "IPv4", "ICMPv4"}, []string{"10.0.2.15 > 10.0.2.2", "ICMP EchoRequest", "id=7 seq=1"}},
		{"dns", dnsQuery(t), []string{"Ethernet", "IPv4", "UDP", "DNS"}, []string{"10.0.2.15:1025 > 10.0.2.3:53", "DNS query id=0x1234 A example.com"}},
		{"udp", udpDatagram(t), []string{"Ethernet", "IPv4", "UDP"}, []string{"10.0.2.15:1026 > 10.0.2.2:9999 UDP len=10"}},
		{"tcp", tcpSyn(t), []string{"Ethernet", "IPv4", "TCP"}, []string{"10.0.2.15:49152 > 10.0.2.2:8080 TCP [SYN] seq=1000"}},
		{"ip6", ip6Frame(t), []string{"Ethernet", "IPv6", "ICMPv6", "ICMPv6RouterSolicitation"}, []string{"fe80::1 > ff02::2", "ICMPv6 RouterSolicitation"}},
	} {
		d := Decode(c.frame)
		if !slices.Equal(d.Layers, c.layers) || d.Err != "" {
			t.Errorf("%s: layers %v (err %q), want %v", c.name, d.Layers, d.Err, c.layers)
		}
		for _, h := range c.has {
			if !strings.Contains(d.Summary, h) {
				t.Errorf("%s: summary %q lacks %q", c.name, d.Summary, h)
			}
		}
	}
}

// A truncated frame decodes as far as it goes and says where it stopped.
func TestDecodeTruncated(t *testing.T) {
	f := dnsQuery(t)
	d := Decode(f[:20])
	if d.Err == "" || !slices.Equal(d.Layers, []string{"Ethernet", "DecodeFailure"}) || !strings.Contains(d.Summary, "(") {
		t.Errorf("%+v", d)
	}
	if d := Decode(nil); d.Summary == "" {
		t.Error("an empty frame has no summary")
	}
}
