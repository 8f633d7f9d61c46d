package monitor

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A frame filter is a small language in the spirit of BPF's, evaluated on
// the decoded layers (not compiled to bytecode: frames arrive one call at
// a time, so a tree walk is cheap enough):
//
//	expr    = or
//	or      = and { ("or" | "||") and }
//	and     = unary { ("and" | "&&") unary }
//	unary   = ("not" | "!") unary | primary
//	primary = "(" expr ")" | proto | [dir] "host" ADDR | [dir] "port" N
//	proto   = "arp" | "ip" | "ip6" | "icmp" | "icmp6" | "udp" | "tcp" | "dns"
//	dir     = "src" | "dst"
//
// "host" matches IPv4/IPv6 source or destination, and ARP's sender and
// target protocol addresses, as tcpdump's does; "port" UDP and TCP ports.

// Expr is a parsed filter; its zero value matches every frame.
type Expr struct {
	root node
	text string
}

// String is the expression as given.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.text
}

// Match evaluates the expression on a decoded frame.
func (e *Expr) Match(d *Decoded) bool {
	if e == nil || e.root == nil {
		return true
	}
	return e.root.match(d)
}

// MaxExprLen bounds an expression: it comes from a client.
const MaxExprLen = 4096

// maxDepth bounds nesting, so a hostile expression cannot overflow the
// parser's stack.
const maxDepth = 64

// ExprError is a bad expression: where, and what was wrong.
type ExprError struct {
	Expr string
	Pos  int // byte offset of the offending token
	Msg  string
}

func (e *ExprError) Error() string {
	return fmt.Sprintf("filter %q: at offset %d: %s", e.Expr, e.Pos, e.Msg)
}

// ParseExpr parses a filter; "" is the filter that matches everything.
func ParseExpr(s string) (*Expr, error) {
	if len(s) > MaxExprLen {
		return nil, &ExprError{Expr: s[:32] + "...", Pos: MaxExprLen, Msg: fmt.Sprintf("longer than %d bytes", MaxExprLen)}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return &Expr{text: s}, nil
	}
	p := &parser{s: s, toks: toks}
	root, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, p.errf("unexpected %q after a complete expression", p.toks[p.i].text)
	}
	return &Expr{root: root, text: s}, nil
}

type token struct {
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			out = append(out, token{string(c), i})
			i++
		case c == '!' && !(i+1 < len(s) && s[i+1] == '='):
			out = append(out, token{"!", i})
			i++
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||"):
			out = append(out, token{s[i : i+2], i})
			i += 2
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			out = append(out, token{s[i:j], i})
			i = j
		default:
			return nil, &ExprError{Expr: s, Pos: i, Msg: fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return out, nil
}

// isWordByte: names, numbers and addresses (IPv4 dots, IPv6 colons).
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == ':' || c == '_' || c == '-' || c == '%'
}

type parser struct {
	s    string
	toks []token
	i    int
}

func (p *parser) errf(format string, a ...any) error {
	pos := len(p.s)
	if p.i < len(p.toks) {
		pos = p.toks[p.i].pos
	}
	return &ExprError{Expr: p.s, Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) peek() string {
	if p.i < len(p.toks) {
		return strings.ToLower(p.toks[p.i].text)
	}
	return ""
}

func (p *parser) or(depth int) (node, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "or" || t == "||"; t = p.peek() {
		p.i++
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and(depth int) (node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t == "and" || t == "&&"; t = p.peek() {
		p.i++
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) unary(depth int) (node, error) {
	if depth > maxDepth {
		return nil, p.errf("nested deeper than %d", maxDepth)
	}
	switch p.peek() {
	case "not", "!":
		p.i++
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.primary(depth)
}

func (p *parser) primary(depth int) (node, error) {
	t := p.peek()
	switch t {
	case "":
		return nil, p.errf("expression ends where a primitive (arp, ip, udp, host A, port N, ...) or \"(\" was expected")
	case "(":
		p.i++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, p.errf("missing \")\"")
		}
		p.i++
		return n, nil
	case ")":
		return nil, p.errf("unexpected \")\"")
	case "arp", "ip", "ip6", "icmp", "icmp6", "udp", "tcp", "dns":
		p.i++
		return protoNode(t), nil
	case "src", "dst":
		p.i++
		return p.qualified(t)
	case "host", "port":
		return p.qualified("")
	case "and", "or", "&&", "||":
		return nil, p.errf("%q needs an expression before it", t)
	}
	return nil, p.errf("unknown primitive %q (want arp, ip, ip6, icmp, icmp6, udp, tcp, dns, host, port, src, dst, not, or \"(\")", p.toks[p.i].text)
}

// qualified parses "host A" or "port N" after an optional direction.
func (p *parser) qualified(dir string) (node, error) {
	kind := p.peek()
	if kind != "host" && kind != "port" {
		return nil, p.errf("%q must be followed by \"host\" or \"port\"", dir)
	}
	p.i++
	if p.i >= len(p.toks) {
		return nil, p.errf("%q needs a value", kind)
	}
	v := p.toks[p.i].text
	if kind == "host" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, p.errf("%q is not an IPv4 or IPv6 address", v)
		}
		p.i++
		return hostNode{dir, a.Unmap()}, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, p.errf("%q is not a port number (0-65535)", v)
	}
	p.i++
	return portNode{dir, uint16(n)}, nil
}

type node interface{ match(*Decoded) bool }

type orNode struct{ l, r node }
type andNode struct{ l, r node }
type notNode struct{ n node }
type protoNode string
type hostNode struct {
	dir string
	a   netip.Addr
}
type portNode struct {
	dir  string
	port uint16
}

func (n orNode) match(d *Decoded) bool  { return n.l.match(d) || n.r.match(d) }
func (n andNode) match(d *Decoded) bool { return n.l.match(d) && n.r.match(d) }
func (n notNode) match(d *Decoded) bool { return !n.n.match(d) }

func (n protoNode) match(d *Decoded) bool {
	switch n {
	case "arp":
		return d.arp
	case "ip":
		return d.ip4
	case "ip6":
		return d.ip6
	case "icmp":
		return d.icmp4
	case "icmp6":
		return d.icmp6
	case "udp":
		return d.udp
	case "tcp":
		return d.tcp
	case "dns":
		return d.dns
	}
	return false
}

func (n hostNode) match(d *Decoded) bool {
	if !d.hasIPs {
		return false
	}
	src, dst := d.src.Unmap() == n.a, d.dst.Unmap() == n.a
	switch n.dir {
	case "src":
		return src
	case "dst":
		return dst
	}
	return src || dst
}

func (n portNode) match(d *Decoded) bool {
	if !d.hasPorts {
		return false
	}
	switch n.dir {
	case "src":
		return d.sport == n.port
	case "dst":
		return d.dport == n.port
	}
	return d.sport == n.port || d.dport == n.port
}
