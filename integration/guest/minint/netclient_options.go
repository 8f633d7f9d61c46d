package minint

import (
	"strconv"
	"strings"
)

// NetClientOptions are netclient.exe's workload options (integration/guest/README.md,
// "The network workload"). The guest reads them from LoadOptions words
// (NETROUNDS=3 ...), so a test appends LoadOptions() to Config.LoadOptions;
// they matter only with Config.Network, the only boot that starts
// netclient. A zero field keeps the guest's default.
type NetClientOptions struct {
	Rounds   int // rounds of the workload; Forever for no end (default 1)
	PeriodMS int // between rounds (default 2000)
	DelayMS  int // before the first round (default 0)
	Pings    int // echo requests to the gateway per round; NoneOf for none (default 3)
	DNS      int // DNS queries per round; NoneOf for none (default 1)
	UDP      int // "frost-udp N" datagrams per round, in one chained send, at most 32; NoneOf for none (default 5)
	UDPPort  int // their port on the gateway, 10.0.2.2 (default 5555)
	TCPPort  int // the gateway's TCP port netclient talks to; NoneOf for no TCP (default 7777)
	Burst    int // "frost-burst N" datagrams per round, as fast as the guest can (default 0)
	// NoFrameLog stops the stack's net-frame line per frame (the
	// miniport's net-tx and net-rx lines stay).
	NoFrameLog bool
}

// NoneOf, in a NetClientOptions count, asks for none: 0 keeps the default.
const NoneOf = -1

// Forever, as NetClientOptions.Rounds, repeats the workload without end.
const Forever = -1

// LoadOptions returns the LoadOptions words for o, space separated.
func (o NetClientOptions) LoadOptions() (string, error) {
	var words []string
	add := func(key string, v int, zeroWord int, max int) error {
		switch {
		case v == 0:
			return nil
		case v == -1:
			v = zeroWord
		case v < 0 || v > max:
			return configErr("NetClientOptions."+key, "%d: want 1..%d, -1 or 0 (default)", v, max)
		}
		words = append(words, "NET"+strings.ToUpper(key)+"="+strconv.Itoa(v))
		return nil
	}
	for _, f := range []struct {
		key string
		v   int
		max int
	}{
		{"Rounds", o.Rounds, 1 << 30}, {"Period", o.PeriodMS, 1 << 30}, {"Delay", o.DelayMS, 1 << 30},
		{"Pings", o.Pings, 1 << 16}, {"DNS", o.DNS, 1 << 16}, {"UDP", o.UDP, 32}, {"UDPPort", o.UDPPort, 65535},
		{"TCPPort", o.TCPPort, 65535}, {"Burst", o.Burst, 1 << 24},
	} {
		if f.key == "UDPPort" && f.v == -1 {
			return "", configErr("NetClientOptions.UDPPort", "-1: a port is 1..65535")
		}
		if err := add(f.key, f.v, 0, f.max); err != nil {
			return "", err
		}
	}
	if o.NoFrameLog {
		words = append(words, "NETFRAMELOG=0")
	}
	return strings.Join(words, " "), nil
}
