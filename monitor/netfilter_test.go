package monitor

import (
	"errors"
	"strings"
	"testing"
)

func TestExprMatch(t *testing.T) {
	frames := map[string][]byte{"arp": arpRequest(t), "ping": pingRequest(t), "dns": dnsQuery(t), "udp": udpDatagram(t), "tcp": tcpSyn(t), "ip6": ip6Frame(t)}
	for _, c := range []struct {
		expr string
		want string // the frames that match, space-separated, sorted as listed
	}{
		{"", "arp ping dns udp tcp ip6"},
		{"arp", "arp"},
		{"icmp", "ping"},
		{"icmp6", "ip6"},
		{"ip", "ping dns udp tcp"},
		{"ip6", "ip6"},
		{"udp", "dns udp"},
		{"dns", "dns"},
		{"tcp", "tcp"},
		{"udp and port 53", "dns"},
		{"UDP AND PORT 53", "dns"},
		{"port 53 or port 8080", "dns tcp"},
		{"dst port 8080", "tcp"},
		{"src port 8080", ""},
		{"src port 1026", "udp"},
		{"host 10.0.2.2", "arp ping udp tcp"},
		{"dst host 10.0.2.2", "arp ping udp tcp"},
		{"src host 10.0.2.2", ""},
		{"host 10.0.2.3", "dns"},
		{"host fe80::1", "ip6"},
		{"not ip", "arp ip6"},
		{"!(udp || tcp)", "arp ping ip6"},
		{"not not arp", "arp"},
		{"ip and not (udp or tcp)", "ping"},
		{"arp or icmp and host 10.0.2.3", "arp"},
		{"(arp or icmp) and host 10.0.2.2", "arp ping"},
		{"udp && !dns", "udp"},
	} {
		e, err := ParseExpr(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		var got []string
		for _, n := range []string{"arp", "ping", "dns", "udp", "tcp", "ip6"} {
			d := Decode(frames[n])
			if e.Match(&d) {
				got = append(got, n)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%q matches %q, want %q", c.expr, strings.Join(got, " "), c.want)
		}
	}
}

func TestExprErrors(t *testing.T) {
	for _, c := range []struct {
		expr, msg string
		pos       int
	}{
		{"udp and", "expression ends", 7},
		{"and udp", `"and" needs an expression before it`, 0},
		{"(udp", `missing ")"`, 4},
		{"udp)", `unexpected ")" after a complete expression`, 3},
		{"host", `"host" needs a value`, 4},
		{"host 10.0.2", "is not an IPv4 or IPv6 address", 5},
		{"port 70000", "is not a port number", 5},
		{"port http", "is not a port number", 5},
		{"src udp", `"src" must be followed by "host" or "port"`, 4},
		{"ether host 1.2.3.4", `unknown primitive "ether"`, 0},
		{"udp $ tcp", "unexpected character '$'", 4},
		{"udp tcp", `unexpected "tcp"`, 4},
		{strings.Repeat("(", 100) + "udp" + strings.Repeat(")", 100), "nested deeper than", 65},
		{strings.Repeat("not ", 100) + "udp", "nested deeper than", 260},
		{strings.Repeat("udp or ", 1000), "longer than", MaxExprLen},
	} {
		_, err := ParseExpr(c.expr)
		var ee *ExprError
		if !errors.As(err, &ee) || !strings.Contains(ee.Msg, c.msg) || ee.Pos != c.pos {
			t.Errorf("%.40q: %v (want %q at %d)", c.expr, err, c.msg, c.pos)
		}
	}
}

// FuzzParseExpr: any input parses or fails with an ExprError, never
// panics, and a parsed expression evaluates on every test frame.
func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"udp and port 53", "not (arp or icmp)", "src host 10.0.2.15 && dst port 80", "host fe80::1", "((tcp))", "port 99999", "!"} {
		f.Add(s)
	}
	frames := [][]byte{arpRequest(f), pingRequest(f), dnsQuery(f), udpDatagram(f), tcpSyn(f), ip6Frame(f)}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("%q: %T %v is not an ExprError", s, err, err)
			}
			return
		}
		for _, fr := range frames {
			d := Decode(fr)
			e.Match(&d)
		}
	})
}
