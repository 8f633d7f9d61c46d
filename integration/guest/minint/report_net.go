package minint

import (
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
)

// The network report of mini-NT's e1000 miniport (integration/guest/README.md,
// Network): net-up when the NIC is started, then a net-tx or net-rx event
// per frame sent or received, numbered from 1 per direction:
//
//	frost-guest: net-up mac=52:54:00:12:34:56 pci=0:3.0 bar0=0xfebc0000 link=up tx=64 rx=32 crc=stripped
//	frost-guest: net-tx seq=1 len=42 hash=0x1c2b3a49 proto=arp mdls=2 off=8

// NetUp is the net-up event.
type NetUp struct {
	MAC  net.HardwareAddr
	PCI  string // bus:device.function
	BAR0 uint64
	Link string // up or down when the NIC was started
}

// NetFrame is one net-tx or net-rx event: a frame as the miniport sent or
// received it (without CRC), and how its NET_BUFFER held it.
type NetFrame struct {
	Dir    string // "tx" or "rx"
	Seq    uint64
	Len    int
	Hash   uint32 // FrameHash of the frame's bytes
	Proto  string // FrameProto of the frame
	MDLs   int    // the MDLs the data spans
	Offset uint64 // the NET_BUFFER's DataOffset
}

// NetUp returns the net-up event; there must be exactly one.
func (r Report) NetUp() (NetUp, error) {
	e, err := r.only("net-up")
	if err != nil {
		return NetUp{}, err
	}
	mac, err := net.ParseMAC(e.Get("mac"))
	if err != nil || len(mac) != 6 {
		return NetUp{}, fmt.Errorf("minint: net-up mac=%q is not a MAC address: %q", e.Get("mac"), e.Line)
	}
	bar, err := e.Uint("bar0")
	if err != nil {
		return NetUp{}, err
	}
	return NetUp{MAC: mac, PCI: e.Get("pci"), BAR0: bar, Link: e.Get("link")}, nil
}

// NetFrames returns the frames of one direction ("tx" or "rx") in report
// order, after checking that they are numbered 1, 2, 3, ... with none
// missing.
func (r Report) NetFrames(dir string) ([]NetFrame, error) {
	if dir != "tx" && dir != "rx" {
		return nil, fmt.Errorf("minint: NetFrames(%q): want tx or rx", dir)
	}
	var out []NetFrame
	for _, e := range r.All("net-" + dir) {
		f, err := parseNetFrame(dir, e)
		if err != nil {
			return nil, err
		}
		if want := uint64(len(out) + 1); f.Seq != want {
			return nil, fmt.Errorf("minint: net-%s seq=%d where %d was next: %q", dir, f.Seq, want, e.Line)
		}
		out = append(out, f)
	}
	return out, nil
}

func parseNetFrame(dir string, e Event) (NetFrame, error) {
	f := NetFrame{Dir: dir, Proto: e.Get("proto")}
	var err error
	if f.Seq, err = e.Uint("seq"); err != nil {
		return f, err
	}
	n, err := e.Uint("len")
	if err != nil {
		return f, err
	}
	h, err := e.Uint("hash")
	if err != nil {
		return f, err
	}
	mdls, err := e.Uint("mdls")
	if err != nil {
		return f, err
	}
	if f.Offset, err = e.Uint("off"); err != nil {
		return f, err
	}
	switch {
	case n < 14 || n > 1514:
		return f, fmt.Errorf("minint: net-%s len=%d is not an Ethernet frame's length: %q", dir, n, e.Line)
	case h > 0xffffffff:
		return f, fmt.Errorf("minint: net-%s hash=%#x is wider than 32 bits: %q", dir, h, e.Line)
	case mdls == 0 || mdls > 64:
		return f, fmt.Errorf("minint: net-%s mdls=%d: %q", dir, mdls, e.Line)
	case f.Proto == "":
		return f, fmt.Errorf("minint: net-%s has no proto: %q", dir, e.Line)
	}
	f.Len, f.Hash, f.MDLs = int(n), uint32(h), int(mdls)
	return f, nil
}

// FrameHash is the report's hash of a frame: FNV-1a 32 of its bytes.
func FrameHash(frame []byte) uint32 {
	h := fnv.New32a()
	h.Write(frame)
	return h.Sum32()
}

// FrameProto names a frame as the report does: arp, ipv6, icmp, tcp or udp
// (IPv4's protocol), ipv4 for another IPv4 protocol or a header cut short,
// eth-xxxx for another EtherType, short for less than an Ethernet header.
func FrameProto(frame []byte) string {
	if len(frame) < 14 {
		return "short"
	}
	typ := uint16(frame[12])<<8 | uint16(frame[13])
	switch typ {
	case 0x0806:
		return "arp"
	case 0x86dd:
		return "ipv6"
	case 0x0800:
		if len(frame) < 34 {
			return "ipv4"
		}
		switch frame[23] {
		case 1:
			return "icmp"
		case 6:
			return "tcp"
		case 17:
			return "udp"
		}
		return "ipv4"
	}
	s := strconv.FormatUint(uint64(typ), 16)
	for len(s) < 4 {
		s = "0" + s
	}
	return "eth-" + s
}
