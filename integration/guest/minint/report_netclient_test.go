package minint

import (
	"strings"
	"testing"
)

const netclientReport = `frost-guest: net-interface mac=52:54:00:12:34:56 address=10.0.2.15 mask=255.255.255.0 gateway=10.0.2.2 dns=10.0.2.3 config=static binding=0xfffff8017c230000
frost-guest: netclient-start pid=104 rounds=1 period=2000 delay=0 pings=1 dns=1 udp=2 udp-port=5555 tcp-port=7777 burst=40 frame-log=1
frost-guest: netclient-round round=1
frost-guest: net-frame dir=tx len=54 hash=0x1c2b3a49 pid=104 tid=108 process=netclient.exe nbl=0xffffa00000001000 nb=0xffffa00000001100 chain-mdls=1 data-offset=0 nbls=1 nbl-index=0
frost-guest: net-frame dir=rx len=60 hash=0x0badf00d pid=4 tid=64 process=System nbl=0xffffa00000002000 nb=0xffffa00000002100 chain-mdls=2 data-offset=16 nbls=1 nbl-index=0
frost-guest: netclient-ping seq=1 id=0x4652 len=12 status=0x00000000 reply=1 rtt-ms=10 ttl=255
frost-guest: netclient-dns id=0x1701 name=example.com len=29 status=0x00000000 reply=0 reply-status=0xc00000b5 rcode=0 answers=0 reply-len=0
frost-guest: netclient-udp n=1 len=11 port=5555 chain=2 status=0x00000000
frost-guest: netclient-udp n=2 len=11 port=5555 chain=2 status=0x00000000
frost-guest: netclient-tcp port=7777 status=0xc0000236 sent=0 echoed=0 match=0 send-status=0x00000000 recv-status=0x00000000 close-status=0x00000000
frost-guest: netclient-burst first=1 count=40 sent=40 calls=2 status=0x00000000
frost-guest: netclient-summary round=1 pings=1 ping-replies=1 dns=1 dns-replies=0 udp=2 udp-bytes=22 tcp-sent=0 tcp-echoed=0 burst=40 burst-sent=40 frames-sent=50 frames-received=3 send-failures=0
frost-guest: netclient-idle
`

func parseText(t *testing.T, text string) Report {
	t.Helper()
	rep, err := ParseReport(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestNetClientReport(t *testing.T) {
	rep := parseText(t, netclientReport)
	nc, err := rep.NetClient()
	if err != nil {
		t.Fatal(err)
	}
	if nc.Start.PID != 104 || nc.Start.Burst != 40 || nc.Start.UDPPort != 5555 || !nc.Start.FrameLog || !nc.Idle {
		t.Errorf("start %+v idle %v", nc.Start, nc.Idle)
	}
	if len(nc.Rounds) != 1 {
		t.Fatalf("rounds %+v", nc.Rounds)
	}
	r := nc.Rounds[0]
	if len(r.Pings) != 1 || !r.Pings[0].Reply || r.Pings[0].RTTMS != 10 || r.Pings[0].ID != 0x4652 {
		t.Errorf("pings %+v", r.Pings)
	}
	if len(r.DNS) != 1 || r.DNS[0].Reply || r.DNS[0].ReplyStatus != 0xc00000b5 || r.DNS[0].ID != 0x1701 {
		t.Errorf("dns %+v", r.DNS)
	}
	if len(r.UDP) != 2 || r.UDP[1].N != 2 || r.UDP[1].Chain != 2 {
		t.Errorf("udp %+v", r.UDP)
	}
	if r.TCP == nil || r.TCP.Status != 0xc0000236 || r.TCP.Match {
		t.Errorf("tcp %+v", r.TCP)
	}
	if r.Burst == nil || r.Burst.Count != 40 || r.Burst.Calls != 2 {
		t.Errorf("burst %+v", r.Burst)
	}
	if s := r.Summary; s == nil || s.UDPBytes != 22 || s.FramesSent != 50 || s.BurstSent != 40 {
		t.Errorf("summary %+v", s)
	}

	ni, err := rep.NetInterface()
	if err != nil {
		t.Fatal(err)
	}
	if ni.MAC.String() != "52:54:00:12:34:56" || ni.Gateway.String() != "10.0.2.2" || ni.Binding != 0xfffff8017c230000 {
		t.Errorf("net-interface %+v", ni)
	}
	tx, err := rep.StackFrames("tx")
	if err != nil {
		t.Fatal(err)
	}
	rx, err := rep.StackFrames("rx")
	if err != nil {
		t.Fatal(err)
	}
	if len(tx) != 1 || tx[0].PID != 104 || tx[0].Process != "netclient.exe" || tx[0].Hash != 0x1c2b3a49 {
		t.Errorf("tx %+v", tx)
	}
	if len(rx) != 1 || rx[0].PID != 4 || rx[0].ChainMDLs != 2 || rx[0].DataOffset != 16 {
		t.Errorf("rx %+v", rx)
	}
	if _, err := rep.StackFrames("both"); err == nil {
		t.Error("StackFrames(both) did not fail")
	}
}

// An unfinished round is reported as such; the next round may not start
// before its summary.
func TestNetClientReportUnfinished(t *testing.T) {
	lines := strings.SplitAfter(netclientReport, "\n")
	var cut string
	for _, l := range lines {
		if strings.Contains(l, "netclient-burst") {
			break
		}
		cut += l
	}
	nc, err := parseText(t, cut).NetClient()
	if err != nil {
		t.Fatal(err)
	}
	if nc.Idle || len(nc.Rounds) != 1 || nc.Rounds[0].Summary != nil || nc.Rounds[0].TCP == nil {
		t.Errorf("cut report: %+v", nc)
	}
}

func TestNetClientReportRejects(t *testing.T) {
	for _, tc := range []struct{ name, old, new string }{
		{"no start", "frost-guest: netclient-start", "frost-guest: netclient-begin"},
		{"round out of order", "netclient-round round=1", "netclient-round round=2"},
		{"summary of another round", "netclient-summary round=1", "netclient-summary round=3"},
		{"bad status", "status=0xc0000236", "status=refused"},
		{"reply not a flag", "reply=1", "reply=2"},
		{"port too big", "udp-port=5555", "udp-port=70000"},
		{"error", "frost-guest: netclient-idle", "frost-guest: netclient-error what=x status=0xc0000001"},
		{"second tcp", "frost-guest: netclient-burst", "frost-guest: netclient-tcp port=1 status=0x0 sent=0 echoed=0 match=0 send-status=0x0 recv-status=0x0 close-status=0x0\nfrost-guest: netclient-burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(netclientReport, tc.old, tc.new, 1)
			if text == netclientReport {
				t.Fatalf("%q not in the report", tc.old)
			}
			if _, err := parseText(t, text).NetClient(); err == nil {
				t.Errorf("NetClient accepted %q", tc.new)
			}
		})
	}
	for _, tc := range []struct{ old, new string }{
		{"chain-mdls=1", "chain-mdls=0"},
		{"nbl-index=0\nfrost-guest: net-frame dir=rx", "nbl-index=1\nfrost-guest: net-frame dir=rx"},
		{"dir=tx", "dir=up"},
		{"hash=0x1c2b3a49", "hash=0x11c2b3a49"},
		{"pid=104 tid", "tid"},
	} {
		text := strings.Replace(netclientReport, tc.old, tc.new, 1)
		if _, err := parseText(t, text).StackFrames("tx"); err == nil {
			t.Errorf("StackFrames accepted %q", tc.new)
		}
	}
	text := strings.Replace(netclientReport, "mac=52:54:00:12:34:56", "mac=52:54", 1)
	if _, err := parseText(t, text).NetInterface(); err == nil {
		t.Error("NetInterface accepted a short MAC")
	}
}

func TestNetClientOptions(t *testing.T) {
	got, err := NetClientOptions{Rounds: Forever, PeriodMS: 500, Pings: NoneOf, UDPPort: 6000, TCPPort: NoneOf,
		Burst: 1000, NoFrameLog: true}.LoadOptions()
	if err != nil {
		t.Fatal(err)
	}
	if want := "NETROUNDS=0 NETPERIOD=500 NETPINGS=0 NETUDPPORT=6000 NETTCPPORT=0 NETBURST=1000 NETFRAMELOG=0"; got != want {
		t.Errorf("LoadOptions = %q, want %q", got, want)
	}
	if got, err := (NetClientOptions{}).LoadOptions(); err != nil || got != "" {
		t.Errorf("zero options = %q, %v; want none", got, err)
	}
	for _, o := range []NetClientOptions{{UDP: 33}, {UDPPort: -1}, {TCPPort: 65536}, {Rounds: -2}} {
		if _, err := o.LoadOptions(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
