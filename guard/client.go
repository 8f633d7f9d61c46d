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

// Client is frostd's end of the guard's socket.
type Client struct {
	mu sync.Mutex
	c  *net.UnixConn
	r  *bufio.Reader
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
	return &Client{c: c, r: bufio.NewReader(c)}, nil
}

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
	if err := c.c.SetDeadline(deadline); err != nil {
		return Reply{}, err
	}
	if err := encode(c.c, req); err != nil {
		return Reply{}, fmt.Errorf("guard: %s: %w", req.Op, err)
	}
	line, err := readLine(c.r)
	if err != nil {
		return Reply{}, fmt.Errorf("guard: %s: %w", req.Op, err)
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
