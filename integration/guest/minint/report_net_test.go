package minint

import (
	"strings"
	"testing"
)

const netReport = `frost-guest: net-up mac=52:54:00:32:e9:be pci=0:2.0 bar0=0xfebc0000 link=up tx=64 rx=32 crc=stripped
frost-guest: net-tx seq=1 len=42 hash=0x1c2b3a49 proto=arp mdls=2 off=8
frost-guest: net-rx seq=1 len=60 hash=0x0000abcd proto=arp mdls=2 off=10
frost-guest: net-tx seq=2 len=98 hash=0xffffffff proto=icmp mdls=1 off=0
`

func TestNetReport(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(netReport))
	if err != nil {
		t.Fatal(err)
	}
	up, err := rep.NetUp()
	if err != nil {
		t.Fatal(err)
	}
	if up.MAC.String() != "52:54:00:32:e9:be" || up.PCI != "0:2.0" || up.BAR0 != 0xfebc0000 || up.Link != "up" {
		t.Errorf("NetUp = %+v", up)
	}
	tx, err := rep.NetFrames("tx")
	if err != nil {
		t.Fatal(err)
	}
	want := []NetFrame{
		{Dir: "tx", Seq: 1, Len: 42, Hash: 0x1c2b3a49, Proto: "arp", MDLs: 2, Offset: 8},
		{Dir: "tx", Seq: 2, Len: 98, Hash: 0xffffffff, Proto: "icmp", MDLs: 1, Offset: 0},
	}
	if len(tx) != 2 || tx[0] != want[0] || tx[1] != want[1] {
		t.Errorf("tx = %+v, want %+v", tx, want)
	}
	rx, err := rep.NetFrames("rx")
	if err != nil || len(rx) != 1 || rx[0].Len != 60 || rx[0].Offset != 10 {
		t.Errorf("rx = %+v, %v", rx, err)
	}
	if _, err := rep.NetFrames("both"); err == nil {
		t.Error("NetFrames accepted a direction that is neither tx nor rx")
	}
}

func TestNetReportRejects(t *testing.T) {
	for _, tt := range []struct{ name, lines, dir string }{
		{"gap in seq", "frost-guest: net-tx seq=1 len=42 hash=0x1 proto=arp mdls=1 off=0\nfrost-guest: net-tx seq=3 len=42 hash=0x1 proto=arp mdls=1 off=0\n", "tx"},
		{"seq from 0", "frost-guest: net-rx seq=0 len=42 hash=0x1 proto=arp mdls=1 off=0\n", "rx"},
		{"runt", "frost-guest: net-rx seq=1 len=13 hash=0x1 proto=short mdls=1 off=0\n", "rx"},
		{"giant", "frost-guest: net-rx seq=1 len=1515 hash=0x1 proto=arp mdls=1 off=0\n", "rx"},
		{"wide hash", "frost-guest: net-tx seq=1 len=42 hash=0x100000000 proto=arp mdls=1 off=0\n", "tx"},
		{"no mdls", "frost-guest: net-tx seq=1 len=42 hash=0x1 proto=arp mdls=0 off=0\n", "tx"},
		{"no proto", "frost-guest: net-tx seq=1 len=42 hash=0x1 mdls=1 off=0\n", "tx"},
		{"no off", "frost-guest: net-tx seq=1 len=42 hash=0x1 proto=arp mdls=1\n", "tx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := ParseReport(strings.NewReader(tt.lines))
			if err != nil {
				t.Fatal(err)
			}
			if fr, err := rep.NetFrames(tt.dir); err == nil {
				t.Errorf("NetFrames accepted %+v", fr)
			}
		})
	}
	for _, lines := range []string{
		"",
		"frost-guest: net-up mac=52:54:00 pci=0:2.0 bar0=0x1 link=up\n",
		"frost-guest: net-up mac=52:54:00:32:e9:be pci=0:2.0 link=up\n",
	} {
		rep, _ := ParseReport(strings.NewReader(lines))
		if up, err := rep.NetUp(); err == nil {
			t.Errorf("NetUp accepted %q: %+v", lines, up)
		}
	}
}

func TestFrameHashAndProto(t *testing.T) {
	// FNV-1a 32's published values.
	if h := FrameHash(nil); h != 0x811c9dc5 {
		t.Errorf("FrameHash(empty) = %#x", h)
	}
	if h := FrameHash([]byte("a")); h != 0xe40c292c {
		t.Errorf("FrameHash(a) = %#x", h)
	}
	frame := func(typ uint16, ipProto byte, n int) []byte {
		b := make([]byte, n)
		b[12], b[13] = byte(typ>>8), byte(typ)
		if n > 23 {
			b[23] = ipProto
		}
		return b
	}
	for _, tt := range []struct {
		b    []byte
		want string
	}{
		{frame(0x0806, 0, 42), "arp"},
		{frame(0x0800, 1, 98), "icmp"},
		{frame(0x0800, 6, 60), "tcp"},
		{frame(0x0800, 17, 60), "udp"},
		{frame(0x0800, 2, 60), "ipv4"},
		{frame(0x0800, 17, 30), "ipv4"},
		{frame(0x86dd, 0, 60), "ipv6"},
		{frame(0x0042, 0, 60), "eth-0042"},
		{make([]byte, 13), "short"},
	} {
		if got := FrameProto(tt.b); got != tt.want {
			t.Errorf("FrameProto(% x) = %s, want %s", tt.b, got, tt.want)
		}
	}
}
