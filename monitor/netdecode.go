package monitor

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Decoded is what a frame's layers say, as the filter and the summary use
// it. Frames are decoded with gopacket's layers from Ethernet up.
type Decoded struct {
	// Layers names the layers decoded, outermost first ("Ethernet",
	// "IPv4", "UDP", "DNS").
	Layers []string
	// Summary is one line: addresses, protocol and what the protocol
	// says ("10.0.2.15:1025 > 10.0.2.3:53 DNS query A example.com").
	Summary string
	// Err is gopacket's decoding failure, when a layer did not decode
	// (the layers before it are still listed).
	Err string

	arp, ip4, ip6, icmp4, icmp6, udp, tcp, dns bool
	// hosts are the IP (or ARP protocol) addresses, source then
	// destination; ports likewise, for UDP and TCP.
	src, dst         netip.Addr
	sport, dport     uint16
	hasPorts, hasIPs bool
}

// Decode decodes an Ethernet frame. It never fails: what does not decode
// is named in Err and the summary.
func Decode(frame []byte) Decoded {
	var d Decoded
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	// gopacket keeps a layer whose decoding failed, followed by a
	// DecodeFailure layer: that layer's fields are not the frame's, so it
	// is neither listed nor used.
	ls := p.Layers()
	failed := gopacket.LayerType(-1)
	for i, l := range ls {
		if i+1 < len(ls) && ls[i+1].LayerType() == gopacket.LayerTypeDecodeFailure {
			failed = l.LayerType()
			continue
		}
		if l.LayerType() == gopacket.LayerTypePayload {
			continue
		}
		d.Layers = append(d.Layers, l.LayerType().String())
	}
	if el := p.ErrorLayer(); el != nil && el.Error() != nil {
		d.Err = el.Error().Error()
	}
	layer := func(t gopacket.LayerType) gopacket.Layer {
		if t == failed {
			return nil
		}
		return p.Layer(t)
	}
	var what []string
	var eth *layers.Ethernet
	if l, ok := layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		eth = l
	}
	if l, ok := layer(layers.LayerTypeARP).(*layers.ARP); ok {
		d.arp, d.hasIPs = true, true
		d.src, _ = netip.AddrFromSlice(l.SourceProtAddress)
		d.dst, _ = netip.AddrFromSlice(l.DstProtAddress)
		switch l.Operation {
		case layers.ARPRequest:
			what = append(what, fmt.Sprintf("ARP who-has %s tell %s", d.dst, d.src))
		case layers.ARPReply:
			what = append(what, fmt.Sprintf("ARP reply %s is-at %s", d.src, hwAddr(l.SourceHwAddress)))
		default:
			what = append(what, fmt.Sprintf("ARP op %d", l.Operation))
		}
	}
	if l, ok := layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		d.ip4, d.hasIPs = true, true
		d.src, _ = netip.AddrFromSlice(l.SrcIP.To4())
		d.dst, _ = netip.AddrFromSlice(l.DstIP.To4())
	}
	if l, ok := layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		d.ip6, d.hasIPs = true, true
		d.src, _ = netip.AddrFromSlice(l.SrcIP)
		d.dst, _ = netip.AddrFromSlice(l.DstIP)
	}
	if l, ok := layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		d.icmp4 = true
		what = append(what, fmt.Sprintf("ICMP %s id=%d seq=%d", l.TypeCode, l.Id, l.Seq))
	}
	if l, ok := layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		d.icmp6 = true
		what = append(what, fmt.Sprintf("ICMPv6 %s", l.TypeCode))
	}
	if l, ok := layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		d.udp, d.hasPorts = true, true
		d.sport, d.dport = uint16(l.SrcPort), uint16(l.DstPort)
		what = append(what, fmt.Sprintf("UDP len=%d", len(l.Payload)))
	}
	if l, ok := layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		d.tcp, d.hasPorts = true, true
		d.sport, d.dport = uint16(l.SrcPort), uint16(l.DstPort)
		what = append(what, fmt.Sprintf("TCP [%s] seq=%d ack=%d win=%d len=%d", tcpFlags(l), l.Seq, l.Ack, l.Window, len(l.Payload)))
	}
	if l, ok := layer(layers.LayerTypeDNS).(*layers.DNS); ok {
		d.dns = true
		what = append(what, dnsSummary(l))
	}
	var who string
	switch {
	case d.hasIPs && d.hasPorts:
		who = fmt.Sprintf("%s > %s", netip.AddrPortFrom(d.src, d.sport), netip.AddrPortFrom(d.dst, d.dport))
	case d.hasIPs && !d.arp:
		who = fmt.Sprintf("%s > %s", d.src, d.dst)
	case eth != nil && !d.arp:
		who = fmt.Sprintf("%s > %s %s", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
	}
	parts := append([]string{}, who)
	parts = append(parts, what...)
	if d.Err != "" {
		parts = append(parts, "("+d.Err+")")
	}
	d.Summary = strings.TrimSpace(strings.Join(parts, " "))
	if d.Summary == "" {
		d.Summary = fmt.Sprintf("%d bytes, not Ethernet", len(frame))
	}
	return d
}

func hwAddr(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ":")
}

func tcpFlags(t *layers.TCP) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{t.SYN, "SYN"}, {t.FIN, "FIN"}, {t.RST, "RST"}, {t.PSH, "PSH"}, {t.ACK, "ACK"}, {t.URG, "URG"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, ",")
}

func dnsSummary(l *layers.DNS) string {
	kind := "query"
	if l.QR {
		kind = "response"
	}
	s := fmt.Sprintf("DNS %s id=%#04x", kind, l.ID)
	for _, q := range l.Questions {
		s += fmt.Sprintf(" %s %s", q.Type, q.Name)
	}
	if l.QR {
		s += fmt.Sprintf(" %s answers=%d", l.ResponseCode, len(l.Answers))
		for _, a := range l.Answers {
			if a.IP != nil {
				s += " " + a.IP.String()
			}
		}
	}
	return s
}
