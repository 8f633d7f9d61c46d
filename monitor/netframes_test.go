package monitor

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Frames as netclient's traffic has them, built with gopacket's
// serializers: the decoder and the filter see real wire bytes.

var (
	guestMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	gwMAC    = net.HardwareAddr{0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}
	guestIP  = net.IPv4(10, 0, 2, 15).To4()
	gwIP     = net.IPv4(10, 0, 2, 2).To4()
	dnsIP    = net.IPv4(10, 0, 2, 3).To4()
)

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if nl, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, x := range ls {
				if ip, ok := x.(gopacket.NetworkLayer); ok {
					_ = nl.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eth(typ layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: guestMAC, DstMAC: gwMAC, EthernetType: typ}
}

func ip4(proto layers.IPProtocol, src, dst net.IP) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src, DstIP: dst}
}

func arpRequest(t testing.TB) []byte {
	return serialize(t, &layers.Ethernet{SrcMAC: guestMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: layers.ARPRequest, SourceHwAddress: guestMAC, SourceProtAddress: guestIP,
			DstHwAddress: make([]byte, 6), DstProtAddress: gwIP})
}

func pingRequest(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, guestIP, gwIP),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))
}

func dnsQuery(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP, guestIP, dnsIP),
		&layers.UDP{SrcPort: 1025, DstPort: 53},
		&layers.DNS{ID: 0x1234, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}})
}

func udpDatagram(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP, guestIP, gwIP),
		&layers.UDP{SrcPort: 1026, DstPort: 9999}, gopacket.Payload("datagram 1"))
}

func tcpSyn(t testing.TB) []byte {
	return serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, guestIP, gwIP),
		&layers.TCP{SrcPort: 49152, DstPort: 8080, Seq: 1000, SYN: true, Window: 8192})
}

func ip6Frame(t testing.TB) []byte {
	src, dst := net.ParseIP("fe80::1"), net.ParseIP("ff02::2")
	return serialize(t, eth(layers.EthernetTypeIPv6), &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: dst},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeRouterSolicitation, 0)}, gopacket.Payload([]byte{0, 0, 0, 0}))
}
