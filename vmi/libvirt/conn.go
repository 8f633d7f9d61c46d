package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// DefaultSocket is libvirtd's unix socket on a system daemon.
const DefaultSocket = "/var/run/libvirt/libvirt-sock"

// DefaultURI is the system QEMU driver.
const DefaultURI = "qemu:///system"

// Conn is a connection to libvirtd that outlives libvirtd's restarts:
// when the connection is lost it dials again with backoff, and meanwhile
// every call fails at once with ErrUnavailable instead of go-libvirt's
// errors of a dead socket. It is safe for concurrent use.
type Conn struct {
	target string

	mu        sync.RWMutex
	l         *golibvirt.Libvirt // nil while down
	downSince time.Time
	lastErr   error // why the last dial failed, or why the connection went
	closed    bool
	watchers  []func(up bool, err error)
	stop      chan struct{}

	evMu   sync.Mutex
	events *fanout // the one event subscription, made on first use per connection
}

// dialTimeout bounds the unix socket connect, which go-libvirt does on its
// own clock; ctx bounds the whole handshake.
const dialTimeout = 15 * time.Second

// Reconnection backoff: libvirtd restarts in 0.2 s warm and up to 9 s
// cold, so the first tries come fast and the later ones every few
// seconds, for as long as frostd runs.
const (
	backoffFirst = 100 * time.Millisecond
	backoffMax   = 5 * time.Second
)

// Dial connects to libvirtd. target is a libvirt URI ("qemu:///system",
// "qemu+unix:///system?socket=/path"), or the path of libvirtd's unix
// socket (then the URI is DefaultURI), or "" for DefaultSocket. Once
// connected, the Conn reconnects on its own if libvirtd goes away.
func Dial(ctx context.Context, target string) (*Conn, error) {
	if target == "" {
		target = DefaultSocket
	}
	l, err := dialOnce(ctx, target)
	if err != nil {
		return nil, err
	}
	c := &Conn{target: target, l: l, stop: make(chan struct{})}
	go c.keep(l)
	return c, nil
}

// Open is Dial that does not give up: when libvirtd is not there yet the
// Conn starts down (calls fail with ErrUnavailable) and keeps dialing in
// the background.
func Open(ctx context.Context, target string) (*Conn, error) {
	if target == "" {
		target = DefaultSocket
	}
	l, err := dialOnce(ctx, target)
	c := &Conn{target: target, l: l, stop: make(chan struct{})}
	if err != nil {
		c.l, c.downSince, c.lastErr = nil, time.Now(), err
	}
	go c.keep(l)
	return c, err
}

// dialOnce connects once, within ctx.
func dialOnce(ctx context.Context, target string) (*golibvirt.Libvirt, error) {
	connect := func() (*golibvirt.Libvirt, error) {
		if strings.HasPrefix(target, "/") {
			l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(target), dialers.WithLocalTimeout(dialTimeout)))
			if err := l.ConnectToURI(DefaultURI); err != nil {
				return nil, err
			}
			return l, nil
		}
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		return golibvirt.ConnectToURI(u)
	}
	type result struct {
		l   *golibvirt.Libvirt
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := connect()
		done <- result{l, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("libvirt: connecting to %s: %w", target, r.err)
		}
		return r.l, nil
	case <-ctx.Done():
		// go-libvirt cannot be cancelled; drop the connection if it
		// comes up after all.
		go func() {
			if r := <-done; r.err == nil {
				r.l.Disconnect()
			}
		}()
		return nil, fmt.Errorf("libvirt: connecting to %s: %w", target, context.Cause(ctx))
	}
}

// keep watches the connection and, once it is lost, dials until libvirtd
// answers again; l is the connection up now (nil: start by dialing).
func (c *Conn) keep(l *golibvirt.Libvirt) {
	for {
		if l != nil {
			select {
			case <-l.Disconnected():
			case <-c.stop:
				return
			}
			c.setDown(l, errors.New("the connection to libvirtd was lost"))
		}
		l = nil
		for wait := backoffFirst; l == nil; wait = min(2*wait, backoffMax) {
			select {
			case <-time.After(wait):
			case <-c.stop:
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			nl, err := dialOnce(ctx, c.target)
			cancel()
			if err != nil {
				c.mu.Lock()
				c.lastErr = err
				c.mu.Unlock()
				continue
			}
			if !c.setUp(nl) {
				nl.Disconnect()
				return
			}
			l = nl
		}
	}
}

func (c *Conn) setDown(l *golibvirt.Libvirt, why error) {
	c.mu.Lock()
	if c.l != l || c.closed {
		c.mu.Unlock()
		return
	}
	c.l, c.downSince, c.lastErr = nil, time.Now(), why
	ws := c.watchers
	c.mu.Unlock()
	// The event subscription died with the connection: the next Events
	// subscribes on the new one.
	c.evMu.Lock()
	c.events = nil
	c.evMu.Unlock()
	for _, w := range ws {
		w(false, why)
	}
}

// setUp installs a new connection; false if the Conn was closed meanwhile.
func (c *Conn) setUp(l *golibvirt.Libvirt) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.l, c.lastErr = l, nil
	ws := c.watchers
	c.mu.Unlock()
	for _, w := range ws {
		w(true, nil)
	}
	return true
}

// Watch calls f with the connection's state now and at every change (up,
// or down with why). f runs on the reconnecting goroutine: keep it short.
func (c *Conn) Watch(f func(up bool, err error)) {
	c.mu.Lock()
	c.watchers = append(c.watchers, f)
	up, err := c.l != nil, c.lastErr
	c.mu.Unlock()
	f(up, err)
}

func (c *Conn) isClosed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.closed
}

// Target is what the Conn dials: a URI or a socket path.
func (c *Conn) Target() string { return c.target }

// Up says whether libvirtd is connected now.
func (c *Conn) Up() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.l != nil
}

// lib is the live connection, or ErrUnavailable.
func (c *Conn) lib() (*golibvirt.Libvirt, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.l == nil {
		return nil, c.unavailable()
	}
	return c.l, nil
}

// unavailable is ErrUnavailable with since when and why; c.mu held.
func (c *Conn) unavailable() error {
	if c.closed {
		return fmt.Errorf("%w: the connection to %s is closed", ErrUnavailable, c.target)
	}
	return &UnavailableError{Target: c.target, Since: c.downSince, Cause: c.lastErr}
}

// Close disconnects and stops reconnecting. Event channels close with it.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	l := c.l
	c.l = nil
	close(c.stop)
	c.mu.Unlock()
	if l == nil {
		return nil
	}
	if err := l.Disconnect(); err != nil {
		return fmt.Errorf("libvirt: disconnecting from %s: %w", c.target, err)
	}
	return nil
}

// Disconnected is closed when the current connection to libvirtd is lost
// (already closed while down). The Conn reconnects on its own; this is
// for a watcher of one connection's life, such as an event stream.
func (c *Conn) Disconnected() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.l == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return c.l.Disconnected()
}

// call runs f, a go-libvirt RPC on c's live connection, bounded by ctx.
// go-libvirt calls take no context; when ctx ends first the call is left
// to finish in the background and its result is dropped. While libvirtd
// is down, or when the connection dies under the call, the error is
// ErrUnavailable rather than the dead socket's.
func call[T any](ctx context.Context, c *Conn, what string, f func(*golibvirt.Libvirt) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("libvirt: %s: %w", what, context.Cause(ctx))
	}
	l, err := c.lib()
	if err != nil {
		return zero, fmt.Errorf("libvirt: %s: %w", what, err)
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(l)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			select {
			case <-l.Disconnected():
				c.setDown(l, fmt.Errorf("the connection to libvirtd was lost: %w", r.err))
				c.mu.RLock()
				uerr := c.unavailable()
				c.mu.RUnlock()
				return r.v, fmt.Errorf("libvirt: %s: %w", what, uerr)
			default:
			}
			return r.v, wrap(what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("libvirt: %s: %w", what, context.Cause(ctx))
	}
}

// call0 is call for RPCs without a result.
func call0(ctx context.Context, c *Conn, what string, f func(*golibvirt.Libvirt) error) error {
	_, err := call(ctx, c, what, func(l *golibvirt.Libvirt) (struct{}, error) { return struct{}{}, f(l) })
	return err
}
