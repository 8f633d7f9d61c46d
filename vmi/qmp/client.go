package qmp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Client is a QMP connection to QEMU's unix socket (-qmp unix:...).
//
// One goroutine reads the socket: it routes replies to their callers by
// id and events to Events, so Execute may be called from any number of
// goroutines and an event never waits behind a reply.
//
// QEMU serves one QMP client per socket: while a Client is connected,
// another connection to the same socket is accepted by the kernel but not
// served until this one closes.
type Client struct {
	*Monitor
	addr     string
	conn     net.Conn
	greeting Greeting

	wmu sync.Mutex // one request is written whole before the next

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan message
	err     *ConnError // set once, when the connection ends
	done    chan struct{}

	events    *eventQueue
	closeOnce sync.Once
}

// Greeting is what QEMU announces when a client connects.
type Greeting struct {
	Version struct {
		QEMU struct {
			Major int `json:"major"`
			Minor int `json:"minor"`
			Micro int `json:"micro"`
		} `json:"qemu"`
		Package string `json:"package"`
	} `json:"version"`
	Capabilities []string `json:"capabilities"`
}

// message is any QMP message from QEMU: a reply (return or error, with
// our id), or an event.
type message struct {
	ID     json.RawMessage `json:"id"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
	ID        uint64 `json:"id"`
}

// Dial connects to QEMU's QMP socket at path, reads the greeting and
// leaves capability negotiation mode. ctx bounds all of that; the client
// lives on after ctx ends.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: dialing QEMU's QMP socket: %w", err)
	}
	c, err := newClient(ctx, conn, path)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

// NewClient runs QMP over an already connected conn (a socket QEMU
// serves, or a test's fake), as Dial does. addr names it in errors.
func NewClient(ctx context.Context, conn net.Conn, addr string) (*Client, error) {
	return newClient(ctx, conn, addr)
}

func newClient(ctx context.Context, conn net.Conn, addr string) (*Client, error) {
	c := &Client{
		addr:    addr,
		conn:    conn,
		pending: make(map[uint64]chan message),
		done:    make(chan struct{}),
		events:  newEventQueue(),
	}
	c.Monitor = NewMonitor(c)
	dec := json.NewDecoder(conn)
	if err := c.readGreeting(ctx, dec); err != nil {
		return nil, err
	}
	go c.events.run()
	go c.read(dec)
	if err := c.Execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// readGreeting reads QEMU's first message, bounded by ctx: when ctx ends,
// a past read deadline unblocks the read. (Setting ctx's deadline on the
// conn instead would race ctx itself and report a bare i/o timeout.)
func (c *Client) readGreeting(ctx context.Context, dec *json.Decoder) error {
	stop := context.AfterFunc(ctx, func() { c.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var g struct {
		QMP   *Greeting `json:"QMP"`
		Event string    `json:"event"`
	}
	// QEMU can hand a previous client's undelivered events (the RESUME
	// after its `cont`) to the next connection ahead of the greeting when
	// clients connect back to back: they are skipped.
	for g.QMP == nil {
		g.Event = ""
		if err := dec.Decode(&g); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("qmp: waiting for QEMU's greeting on %s: %w", c.addr, context.Cause(ctx))
			}
			return fmt.Errorf("qmp: reading QEMU's greeting on %s: %w", c.addr, err)
		}
		if g.QMP == nil && g.Event == "" {
			return &ProtocolError{Msg: "the first message from " + c.addr + " is neither a QMP greeting nor an event"}
		}
	}
	if !stop() {
		return fmt.Errorf("qmp: waiting for QEMU's greeting on %s: %w", c.addr, context.Cause(ctx))
	}
	c.conn.SetReadDeadline(time.Time{})
	c.greeting = *g.QMP
	return nil
}

// Greeting is what QEMU announced on connect (its version).
func (c *Client) Greeting() Greeting { return c.greeting }

// read is the one reader of the socket.
func (c *Client) read(dec *json.Decoder) {
	for {
		var msg message
		if err := dec.Decode(&msg); err != nil {
			if _, ok := err.(*json.SyntaxError); ok {
				err = &ProtocolError{Msg: "malformed JSON from QEMU: " + err.Error()}
			}
			c.fail(err)
			return
		}
		switch {
		case msg.Event != "":
			c.events.push(msg.event())
		case msg.ID != nil:
			c.route(msg)
		}
		// A reply without an id answers a request QEMU could not parse;
		// we never send one, so there is nobody to give it to.
	}
}

func (m *message) event() Event {
	e := Event{Name: m.Event, Data: m.Data}
	if m.Timestamp != nil && m.Timestamp.Seconds >= 0 {
		e.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
	}
	return e
}

func (c *Client) route(msg message) {
	id, err := strconv.ParseUint(string(msg.ID), 10, 64)
	if err != nil {
		return // not an id we sent
	}
	c.mu.Lock()
	ch, ok := c.pending[id]
	delete(c.pending, id)
	c.mu.Unlock()
	if ok {
		ch <- msg // buffered: the caller may have given up already
	}
}

// fail ends the connection with cause err; the first cause wins.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = &ConnError{Addr: c.addr, Err: err}
		close(c.done)
	}
	c.mu.Unlock()
	c.conn.Close()
	c.events.end()
}

// Execute runs command; see Executor. If ctx ends first, the command may
// still run in QEMU: only the wait is abandoned.
func (c *Client) Execute(ctx context.Context, command string, args, result any) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	id := c.nextID
	c.nextID++
	ch := make(chan message, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	b, err := json.Marshal(request{Execute: command, Arguments: args, ID: id})
	if err != nil {
		return fmt.Errorf("qmp: %s: encoding arguments: %w", command, err)
	}
	if err := c.write(ctx, append(b, '\n')); err != nil {
		return err
	}
	select {
	case msg := <-ch:
		return decodeReply(command, msg, result)
	case <-c.done:
		// The reply may have been routed just before the connection died.
		select {
		case msg := <-ch:
			return decodeReply(command, msg, result)
		default:
			return c.err
		}
	case <-ctx.Done():
		return fmt.Errorf("qmp: %s: %w", command, context.Cause(ctx))
	}
}

// write sends one request. A write cut short leaves half a request on the
// wire, after which QEMU can no longer parse the stream, so any write
// error ends the connection.
func (c *Client) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// When ctx ends mid-write, a past deadline unblocks the write. The
	// flag keeps a late-running AfterFunc from poisoning the next write.
	var mu sync.Mutex
	finished := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			c.conn.SetWriteDeadline(time.Unix(1, 0))
		}
	})
	defer func() {
		mu.Lock()
		finished = true
		mu.Unlock()
		if !stop() {
			c.conn.SetWriteDeadline(time.Time{})
		}
	}()
	if _, err := c.conn.Write(b); err != nil {
		c.fail(err)
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	return nil
}

func decodeReply(command string, msg message, result any) error {
	switch {
	case msg.Error != nil:
		return &Error{Command: command, Class: msg.Error.Class, Desc: msg.Error.Desc}
	case msg.Return == nil:
		return &ProtocolError{Msg: fmt.Sprintf("the reply to %s has neither return nor error", command)}
	case result == nil:
		return nil
	}
	if err := json.Unmarshal(msg.Return, result); err != nil {
		return &ProtocolError{Msg: fmt.Sprintf("the reply to %s does not fit %T: %v", command, result, err)}
	}
	return nil
}

// Events delivers QEMU's asynchronous events in order. It is closed after
// the connection ends, once the events received before that have been
// delivered (so a SHUTDOWN before QEMU exits is not lost), or at Close.
// Events are queued without blocking the reader; past maxQueuedEvents
// unread events the oldest are dropped and counted in DroppedEvents.
func (c *Client) Events() <-chan Event { return c.events.out }

// DroppedEvents counts events dropped because nobody read Events.
func (c *Client) DroppedEvents() uint64 { return c.events.dropped.Load() }

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection works, and then the *ConnError that
// ended it.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return nil
	}
	return c.err
}

// Close ends the connection. Calls in flight fail with a *ConnError whose
// cause is ErrClosed, and Events is closed without delivering what is
// still queued.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.fail(ErrClosed)
		c.events.stop()
	})
	return nil
}
