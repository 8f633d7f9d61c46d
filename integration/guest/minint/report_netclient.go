package minint

import (
	"fmt"
	"net"
)

// The protocol stack's and netclient.exe's report (integration/guest/README.md,
// "The network workload"). The kernel's stack prints net-interface when it
// binds to the adapter and a net-frame line per frame it sends (before
// the send) or receives, naming the process and thread it ran in:
//
//	frost-guest: net-interface mac=52:54:00:12:34:56 address=10.0.2.15 mask=255.255.255.0 gateway=10.0.2.2 dns=10.0.2.3 config=static binding=0xfffff80...
//	frost-guest: net-frame dir=tx len=53 hash=0x1c2b3a49 pid=88 tid=92 process=netclient.exe nbl=0x... nb=0x... chain-mdls=2 data-offset=86 nbls=5 nbl-index=0
//
// netclient.exe prints what it did, round by round:
//
//	frost-guest: netclient-start pid=88 rounds=1 period=2000 delay=0 pings=3 dns=1 udp=5 udp-port=5555 tcp-port=7777 burst=0 frame-log=1
//	frost-guest: netclient-round round=1
//	frost-guest: netclient-ping seq=1 id=0x4652 len=12 status=0x00000000 reply=1 rtt-ms=10 ttl=255
//	frost-guest: netclient-dns id=0x1701 name=example.com len=29 status=0x00000000 reply=1 reply-status=0x00000000 rcode=0 answers=1 reply-len=45
//	frost-guest: netclient-udp n=1 len=11 port=5555 chain=5 status=0x00000000
//	frost-guest: netclient-tcp port=7777 status=0x00000000 sent=35 echoed=35 match=1 send-status=0x00000000 recv-status=0x00000000 close-status=0x00000000
//	frost-guest: netclient-burst first=1 count=100 sent=100 calls=4 status=0x00000000
//	frost-guest: netclient-summary round=1 pings=3 ping-replies=3 dns=1 dns-replies=1 udp=5 udp-bytes=55 tcp-sent=35 tcp-echoed=35 burst=0 burst-sent=0 frames-sent=20 frames-received=18 send-failures=0
//	frost-guest: netclient-idle

// NetInterface is the net-interface event.
type NetInterface struct {
	MAC                         net.HardwareAddr
	Address, Mask, Gateway, DNS net.IP
	Config                      string // "static"
	Binding                     uint64 // the NdisBindingHandle
}

// StackFrame is one net-frame event: a frame as the protocol stack sent
// or received it.
type StackFrame struct {
	Dir        string // "tx" or "rx"
	Len        int
	Hash       uint32 // FrameHash of the frame's bytes
	PID, TID   uint64 // the thread it was sent or received in
	Process    string
	NBL, NB    uint64
	ChainMDLs  int    // the MDLs of the NET_BUFFER's MdlChain, all of them
	DataOffset uint64 // the NET_BUFFER's
	NBLs       int    // the NBLs of the NdisSendNetBufferLists call or indication
	NBLIndex   int    // this NBL's place among them, from 0
}

// NetClientStart is netclient's netclient-start event: its pid and options.
type NetClientStart struct {
	PID                                                 uint64
	Rounds, PeriodMS, DelayMS, Pings, DNS, UDP, UDPPort int
	TCPPort, Burst                                      int
	FrameLog                                            bool
}

// NetClientPing is a netclient-ping event.
type NetClientPing struct {
	Seq, ID uint64
	Len     int
	Status  uint32
	Reply   bool
	RTTMS   int
	TTL     int
}

// NetClientDNS is a netclient-dns event: a query for Name's A record and,
// when Reply, the answer's rcode and answer count.
type NetClientDNS struct {
	ID                  uint16
	Name                string
	Len                 int
	Status, ReplyStatus uint32
	Reply               bool
	RCode, Answers      int
	ReplyLen            int
}

// NetClientUDP is a netclient-udp event: datagram N, whose payload is
// exactly "frost-udp N", sent in a chain of Chain NBLs.
type NetClientUDP struct {
	N                uint64
	Len, Port, Chain int
	Status           uint32
}

// NetClientTCP is a netclient-tcp event: the connect's status, the bytes
// sent and echoed back, and whether the echo matched.
type NetClientTCP struct {
	Port                                int
	Status                              uint32
	Sent, Echoed                        int
	Match                               bool
	SendStatus, RecvStatus, CloseStatus uint32
}

// NetClientBurst is a netclient-burst event: datagrams First..First+Count-1,
// "frost-burst K", in Calls chained sends.
type NetClientBurst struct {
	First              uint64
	Count, Sent, Calls int
	Status             uint32
}

// NetClientSummary is a netclient-summary event: the round's counts and the
// stack's frame counters after it.
type NetClientSummary struct {
	Round, Pings, PingReplies, DNS, DNSReplies, UDP, UDPBytes int
	TCPSent, TCPEchoed, Burst, BurstSent                      int
	FramesSent, FramesReceived, SendFailures                  uint64
}

// NetClientRound is one round of netclient's workload, in report order.
type NetClientRound struct {
	Round   int
	Pings   []NetClientPing
	DNS     []NetClientDNS
	UDP     []NetClientUDP
	TCP     *NetClientTCP   // nil when TCP is off (tcp-port=0)
	Burst   *NetClientBurst // nil without a burst
	Summary *NetClientSummary
}

// NetClientReport is everything netclient.exe reported.
type NetClientReport struct {
	Start  NetClientStart
	Rounds []NetClientRound // the last may be unfinished (no Summary)
	Idle   bool             // every round done
}

// NetInterface returns the net-interface event; there must be exactly one.
func (r Report) NetInterface() (NetInterface, error) {
	e, err := r.only("net-interface")
	if err != nil {
		return NetInterface{}, err
	}
	var ni NetInterface
	p := fieldParser{e: e}
	ni.MAC = p.mac("mac")
	ni.Address, ni.Mask, ni.Gateway, ni.DNS = p.ip("address"), p.ip("mask"), p.ip("gateway"), p.ip("dns")
	ni.Config = p.str("config")
	ni.Binding = p.uint("binding", 1<<64-1)
	return ni, p.err
}

// StackFrames returns the net-frame events of one direction ("tx" or
// "rx"), in report order.
func (r Report) StackFrames(dir string) ([]StackFrame, error) {
	if dir != "tx" && dir != "rx" {
		return nil, fmt.Errorf("minint: StackFrames(%q): want tx or rx", dir)
	}
	var out []StackFrame
	for _, e := range r.All("net-frame") {
		if e.Get("dir") != dir {
			if d := e.Get("dir"); d != "tx" && d != "rx" {
				return nil, fmt.Errorf("minint: net-frame dir=%q: %q", d, e.Line)
			}
			continue
		}
		p := fieldParser{e: e}
		f := StackFrame{
			Dir:        dir,
			Len:        int(p.uint("len", 1514)),
			Hash:       uint32(p.uint("hash", 0xffffffff)),
			PID:        p.uint("pid", 1<<64-1),
			TID:        p.uint("tid", 1<<64-1),
			Process:    p.str("process"),
			NBL:        p.uint("nbl", 1<<64-1),
			NB:         p.uint("nb", 1<<64-1),
			ChainMDLs:  int(p.uint("chain-mdls", 64)),
			DataOffset: p.uint("data-offset", 0xffffffff),
			NBLs:       int(p.uint("nbls", 1<<20)),
			NBLIndex:   int(p.uint("nbl-index", 1<<20)),
		}
		if p.err == nil && (f.Len < 14 || f.ChainMDLs == 0 || f.NBLs == 0 || f.NBLIndex >= f.NBLs) {
			p.fail("len=%d chain-mdls=%d nbls=%d nbl-index=%d are not a frame's", f.Len, f.ChainMDLs, f.NBLs, f.NBLIndex)
		}
		if p.err != nil {
			return nil, p.err
		}
		out = append(out, f)
	}
	return out, nil
}

// NetClient returns netclient.exe's report: its start, then its rounds.
// Events must come in the order netclient prints them: a step outside a
// round, a round out of sequence or a second summary is an error.
func (r Report) NetClient() (NetClientReport, error) {
	var out NetClientReport
	started := false
	var cur *NetClientRound
	for _, e := range r {
		if len(e.Name) < 10 || e.Name[:10] != "netclient-" {
			continue
		}
		p := fieldParser{e: e}
		if e.Name != "netclient-start" && e.Name != "netclient-error" && !started {
			return out, fmt.Errorf("minint: %s before netclient-start: %q", e.Name, e.Line)
		}
		if cur == nil && e.Name != "netclient-start" && e.Name != "netclient-round" && e.Name != "netclient-idle" &&
			e.Name != "netclient-error" {
			return out, fmt.Errorf("minint: %s outside a round: %q", e.Name, e.Line)
		}
		switch e.Name {
		case "netclient-start":
			if started {
				return out, fmt.Errorf("minint: a second netclient-start: %q", e.Line)
			}
			started = true
			out.Start = NetClientStart{
				PID: p.uint("pid", 1<<64-1), Rounds: p.int("rounds"), PeriodMS: p.int("period"),
				DelayMS: p.int("delay"), Pings: p.int("pings"), DNS: p.int("dns"), UDP: p.int("udp"),
				UDPPort: int(p.uint("udp-port", 0xffff)), TCPPort: int(p.uint("tcp-port", 0xffff)),
				Burst: p.int("burst"), FrameLog: p.flag("frame-log"),
			}
		case "netclient-error":
			return out, fmt.Errorf("minint: netclient failed: %q", e.Line)
		case "netclient-round":
			n := p.int("round")
			if p.err == nil && n != len(out.Rounds)+1 {
				p.fail("round %d where %d was next", n, len(out.Rounds)+1)
			}
			if p.err == nil && cur != nil && cur.Summary == nil {
				p.fail("round %d before round %d's summary", n, cur.Round)
			}
			out.Rounds = append(out.Rounds, NetClientRound{Round: n})
			cur = &out.Rounds[len(out.Rounds)-1]
		case "netclient-ping":
			cur.Pings = append(cur.Pings, NetClientPing{
				Seq: p.uint("seq", 0xffff), ID: p.uint("id", 0xffff), Len: p.int("len"),
				Status: p.status("status"), Reply: p.flag("reply"), RTTMS: p.int("rtt-ms"), TTL: p.int("ttl"),
			})
		case "netclient-dns":
			cur.DNS = append(cur.DNS, NetClientDNS{
				ID: uint16(p.uint("id", 0xffff)), Name: p.str("name"), Len: p.int("len"), Status: p.status("status"),
				Reply: p.flag("reply"), ReplyStatus: p.status("reply-status"), RCode: p.int("rcode"),
				Answers: p.int("answers"), ReplyLen: p.int("reply-len"),
			})
		case "netclient-udp":
			cur.UDP = append(cur.UDP, NetClientUDP{
				N: p.uint("n", 1<<32-1), Len: p.int("len"), Port: int(p.uint("port", 0xffff)), Chain: p.int("chain"),
				Status: p.status("status"),
			})
		case "netclient-tcp":
			if cur.TCP != nil {
				p.fail("a second netclient-tcp in round %d", cur.Round)
			}
			cur.TCP = &NetClientTCP{
				Port: int(p.uint("port", 0xffff)), Status: p.status("status"), Sent: p.int("sent"),
				Echoed: p.int("echoed"), Match: p.flag("match"), SendStatus: p.status("send-status"),
				RecvStatus: p.status("recv-status"), CloseStatus: p.status("close-status"),
			}
		case "netclient-burst":
			cur.Burst = &NetClientBurst{
				First: p.uint("first", 1<<32-1), Count: p.int("count"), Sent: p.int("sent"), Calls: p.int("calls"),
				Status: p.status("status"),
			}
		case "netclient-summary":
			s := &NetClientSummary{
				Round: p.int("round"), Pings: p.int("pings"), PingReplies: p.int("ping-replies"), DNS: p.int("dns"),
				DNSReplies: p.int("dns-replies"), UDP: p.int("udp"), UDPBytes: p.int("udp-bytes"),
				TCPSent: p.int("tcp-sent"), TCPEchoed: p.int("tcp-echoed"), Burst: p.int("burst"),
				BurstSent: p.int("burst-sent"), FramesSent: p.uint("frames-sent", 1<<64-1),
				FramesReceived: p.uint("frames-received", 1<<64-1), SendFailures: p.uint("send-failures", 1<<64-1),
			}
			if p.err == nil && (cur.Summary != nil || s.Round != cur.Round) {
				p.fail("summary of round %d in round %d (or a second one)", s.Round, cur.Round)
			}
			cur.Summary = s
			cur = nil
		case "netclient-idle":
			out.Idle = true
		default:
			p.fail("unknown netclient event")
		}
		if p.err != nil {
			return out, p.err
		}
	}
	if !started {
		return out, fmt.Errorf("minint: no netclient-start in the report")
	}
	return out, nil
}

// fieldParser reads an event's fields, keeping the first error.
type fieldParser struct {
	e   Event
	err error
}

func (p *fieldParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("minint: %s: %s: %q", p.e.Name, fmt.Sprintf(format, args...), p.e.Line)
	}
}

func (p *fieldParser) uint(key string, max uint64) uint64 {
	if p.err != nil {
		return 0
	}
	v, err := p.e.Uint(key)
	if err != nil {
		p.err = err
		return 0
	}
	if v > max {
		p.fail("%s=%d is over %d", key, v, max)
	}
	return v
}

func (p *fieldParser) int(key string) int { return int(p.uint(key, 1<<31-1)) }

func (p *fieldParser) status(key string) uint32 { return uint32(p.uint(key, 0xffffffff)) }

func (p *fieldParser) flag(key string) bool {
	switch v := p.uint(key, 1); v {
	case 1:
		return true
	default:
		return false
	}
}

func (p *fieldParser) str(key string) string {
	v, ok := p.e.Fields[key]
	if !ok || v == "" {
		p.fail("no %s", key)
	}
	return v
}

func (p *fieldParser) mac(key string) net.HardwareAddr {
	s := p.str(key)
	if p.err != nil {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		p.fail("%s=%q is not a MAC address", key, s)
	}
	return m
}

func (p *fieldParser) ip(key string) net.IP {
	s := p.str(key)
	if p.err != nil {
		return nil
	}
	ip := net.ParseIP(s).To4()
	if ip == nil {
		p.fail("%s=%q is not an IPv4 address", key, s)
	}
	return ip
}
