package gdbstub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Config configures a Client.
type Config struct {
	// Capabilities say which breakpoints may be armed (CapabilitiesFor).
	// Required: the client never probes the stub for them.
	Capabilities Capabilities
	// Pipeline is how many requests may await their reply at once; 0
	// means 32. 1 makes every request a full round trip.
	Pipeline int
	// ReplyTimeout bounds the wait for an ack or reply. A request that
	// gets none poisons the connection, since every later reply would be
	// matched to the wrong request. 0 means 10 s. A running guest has no
	// timeout: it may run for days.
	ReplyTimeout time.Duration
}

// Client is a connection to a gdbstub. Its methods are safe for concurrent
// use; they are serialized on the wire by the connection's owner.
type Client struct {
	e    *engine
	caps Capabilities

	// From the handshake; read-only afterwards.
	features     map[string]string
	packetSize   int
	multiprocess bool
	regMap       *RegisterMap
	vCont        map[string]bool
	sstepFlags   uint64 // what Qqemu.sstep is set to before a step; 0: leave it
	physical     bool   // the stub has qqemu.PhyMemMode

	sstepMu  sync.Mutex
	sstepSet bool

	bpMu  sync.Mutex
	armed map[Breakpoint]bool

	modeMu   sync.Mutex
	physMode bool // the stub's memory mode as last set or read
}

// Dial connects to a gdbstub ("unix" socket path or "tcp" address) and
// negotiates with it; see New.
func Dial(ctx context.Context, network, address string, cfg Config) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("gdbstub: %w", err)
	}
	return New(ctx, conn, cfg)
}

// New takes over conn and negotiates: qSupported, no-ack mode if offered,
// the target description (which also makes QEMU answer p/P), and QEMU's
// single-step and memory-mode settings. It sends no "?": Attach does that.
// On error conn is closed.
//
// Connecting stops a running guest; QEMU then sends an unsolicited T02,
// which the client takes as the first stop.
func New(ctx context.Context, conn net.Conn, cfg Config) (*Client, error) {
	if cfg.Capabilities.Accel == AccelUnknown {
		conn.Close()
		return nil, errors.New("gdbstub: Config.Capabilities is required (use CapabilitiesFor)")
	}
	if cfg.Pipeline <= 0 {
		cfg.Pipeline = defaultWindow
	}
	if cfg.ReplyTimeout <= 0 {
		cfg.ReplyTimeout = defaultReplyTimeout
	}
	c := &Client{
		e:     newEngine(conn, cfg.Pipeline, cfg.ReplyTimeout),
		caps:  cfg.Capabilities,
		armed: map[Breakpoint]bool{},
	}
	if err := c.handshake(ctx); err != nil {
		c.e.close()
		return nil, err
	}
	return c, nil
}

// exchange sends one request and returns its reply.
func (c *Client) exchange(ctx context.Context, r *request) error {
	return c.e.do(ctx, newBatch(ctx, r))
}

// query sends a payload and returns its data (see replyData).
func (c *Client) query(ctx context.Context, format string, args ...any) ([]byte, error) {
	r := req(format, args...)
	if err := c.exchange(ctx, r); err != nil {
		return nil, err
	}
	return replyData(r)
}

// ourFeatures is what this client offers in qSupported: multiprocess ids
// (QEMU then wants D;1) and target descriptions.
const ourFeatures = "qSupported:multiprocess+;swbreak+;hwbreak+;qXfer:features:read+;vContSupported+"

func (c *Client) handshake(ctx context.Context) error {
	reply, err := c.query(ctx, ourFeatures)
	if err != nil {
		return fmt.Errorf("gdbstub: qSupported: %w", err)
	}
	c.features = parseFeatures(string(reply))
	c.packetSize = initialPacketSize
	if v, ok := c.features["PacketSize"]; ok {
		n, ok := parseHexUint(v)
		if !ok || n < 64 || n > 1<<20 {
			return protocolErr("qSupported: PacketSize=%q", v)
		}
		c.packetSize = int(n)
	}
	c.e.packetSize.Store(int64(c.packetSize))
	c.multiprocess = c.features["multiprocess"] == "+"

	if c.features["QStartNoAckMode"] == "+" {
		r := req("QStartNoAckMode")
		r.noAckNext = true
		if err := c.exchange(ctx, r); err != nil {
			return err
		}
		if err := checkOK(r); err != nil {
			return fmt.Errorf("gdbstub: QStartNoAckMode: %w", err)
		}
	}

	if c.features["qXfer:features:read"] == "+" {
		m, err := loadTargetDescription(func(annex string) ([]byte, error) { return c.readFeature(ctx, annex) })
		if err != nil {
			return err
		}
		c.regMap = m
		c.e.regMap.Store(m)
	}

	// Three independent queries, pipelined.
	vc, bits, mode := req("vCont?"), req("qqemu.sstepbits"), req("qqemu.PhyMemMode")
	if err := c.e.do(ctx, newBatch(ctx, vc, bits, mode)); err != nil {
		return err
	}
	c.vCont = map[string]bool{}
	if data, err := replyData(vc); err == nil {
		for _, a := range strings.Split(string(data), ";")[1:] {
			c.vCont[a] = true
		}
	}
	if data, err := replyData(bits); err == nil {
		c.sstepFlags = sstepFlags(string(data))
	}
	if data, err := replyData(mode); err == nil {
		c.physical = true
		c.physMode = string(data) == "1"
	}
	return nil
}

// parseFeatures splits a qSupported reply: "name=value", "name+",
// "name-" or "name?".
func parseFeatures(s string) map[string]string {
	f := map[string]string{}
	for _, item := range strings.Split(s, ";") {
		if name, value, ok := strings.Cut(item, "="); ok {
			f[name] = value
		} else if n := len(item); n > 1 && strings.ContainsRune("+-?", rune(item[n-1])) {
			f[item[:n-1]] = item[n-1:]
		}
	}
	return f
}

// sstepFlags picks ENABLE|NOIRQ|NOTIMER from a qqemu.sstepbits reply
// ("ENABLE=1,NOIRQ=2,NOTIMER=4"): a step must not wander into an
// interrupt handler or a timer, and under KVM QEMU offers fewer bits.
func sstepFlags(s string) uint64 {
	var flags uint64
	for _, item := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(item, "=")
		if name != "ENABLE" && name != "NOIRQ" && name != "NOTIMER" {
			continue
		}
		if v, ok := parseHexUint(value); ok {
			flags |= v
		}
	}
	return flags
}

// readFeature reads one target description file with qXfer.
func (c *Client) readFeature(ctx context.Context, annex string) ([]byte, error) {
	// QEMU clamps a qXfer chunk so that its escaped reply fits its buffer.
	chunk := (c.packetSize - 5) / 2
	var data []byte
	for {
		r := req("qXfer:features:read:%s:%x,%x", annex, len(data), chunk)
		if err := c.exchange(ctx, r); err != nil {
			return nil, err
		}
		reply, err := replyData(r)
		if err != nil {
			return nil, err
		}
		data = append(data, reply[1:]...)
		switch {
		case reply[0] == 'l':
			return data, nil
		case reply[0] != 'm' || len(reply) == 1:
			return nil, protocolErr("qXfer reply %q", short(reply))
		case len(data) > maxDescBytes:
			return nil, protocolErr("%s is larger than %d bytes", annex, maxDescBytes)
		}
	}
}

// PacketSize is the stub's packet buffer size from qSupported.
func (c *Client) PacketSize() int { return c.packetSize }

// Capabilities is what the client allows for breakpoints.
func (c *Client) Capabilities() Capabilities { return c.caps }

// RegisterMap is the register layout from target.xml, or nil if the stub
// offered none.
func (c *Client) RegisterMap() *RegisterMap { return c.regMap }

// State returns the run state and the latest stop (nil before any).
func (c *Client) State() (State, *Stop) {
	st := c.e.snapshot()
	if !st.ready {
		return st.state, nil
	}
	return st.state, st.stop
}

// Close drops the connection without detaching. QEMU keeps any breakpoint
// still armed; use Detach to leave the guest clean and running.
func (c *Client) Close() error {
	c.e.close()
	return nil
}

// Done is closed once the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.e.quit }

// Err is why the connection ended (an error matching ErrClosed), or nil
// while it is up.
func (c *Client) Err() error { return c.e.snapshot().err }
