package guard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/frostvmi/frost/session"
)

// Client is frostd's end of the guard's socket. A reader goroutine
// takes the guard's replies, so that a guard that dies is noticed at once
// (Done), not at the next hold.
type Client struct {
	mu      sync.Mutex // one exchange at a time
	c       *net.UnixConn
	replies chan []byte
	done    chan struct{}
	err     error // why done was closed
}

// tellTimeout bounds one exchange with a guard that is not recovering:
// a hold waits on it, so a stuck guard must not stall frostd for long.
const tellTimeout = 5 * time.Second

// Dial connects to the guard at socket after checking that the socket,
// its directory and the process behind it are ours (or root's): a guard
// another user planted would learn nothing and let go of nothing.
func Dial(ctx context.Context, socket string) (*Client, error) {
	if err := checkOwned(filepath.Dir(socket), false); err != nil {
		return nil, err
	}
	if err := checkOwned(socket, true); err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, err
	}
	c := nc.(*net.UnixConn)
	if err := checkPeer(c); err != nil {
		c.Close()
		return nil, err
	}
	cl := &Client{c: c, replies: make(chan []byte, 1), done: make(chan struct{})}
	go cl.read()
	return cl, nil
}

func (c *Client) read() {
	r := bufio.NewReader(c.c)
	for {
		line, err := readLine(r)
		if err != nil {
			c.err = err
			close(c.done)
			return
		}
		select {
		case c.replies <- line:
		default: // a reply nobody asked for: the guard is confused
			c.err = errors.New("guard: unexpected message")
			c.c.Close()
			close(c.done)
			return
		}
	}
}

// Done is closed when the connection to the guard is lost.
func (c *Client) Done() <-chan struct{} { return c.done }

// Hello introduces frostd; it returns once the guard has finished any
// recovery it runs (bounded by ctx), with what it let go meanwhile.
func (c *Client) Hello(ctx context.Context) (Reply, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	return c.call(Request{Op: OpHello, PID: os.Getpid()}, deadline)
}

// Tell replaces what the guard knows frostd holds; it returns once the
// guard has it.
func (c *Client) Tell(h session.Holds) error {
	_, err := c.call(Request{Op: OpHold, Holds: h}, time.Now().Add(tellTimeout))
	return err
}

// Bye tells the guard that frostd let every guest go; closing the
// connection afterwards recovers nothing.
func (c *Client) Bye() error {
	_, err := c.call(Request{Op: OpBye}, time.Now().Add(tellTimeout))
	return err
}

// Close drops the connection. Without a Bye first, the guard lets go of
// what it was last told.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) call(req Request, deadline time.Time) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return Reply{}, fmt.Errorf("guard: %s: connection lost: %w", req.Op, c.err)
	default:
	}
	if err := c.c.SetWriteDeadline(deadline); err != nil {
		return Reply{}, err
	}
	if err := encode(c.c, req); err != nil {
		return Reply{}, fmt.Errorf("guard: %s: %w", req.Op, err)
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var line []byte
	select {
	case line = <-c.replies:
	case <-c.done:
		return Reply{}, fmt.Errorf("guard: %s: connection lost: %w", req.Op, c.err)
	case <-timer.C:
		// A late reply would answer the next request: drop the link.
		c.c.Close()
		return Reply{}, fmt.Errorf("guard: %s: no reply by %v", req.Op, deadline.Format(time.RFC3339))
	}
	var rep Reply
	if err := decode(line, &rep); err != nil {
		return Reply{}, err
	}
	if !rep.OK {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}
