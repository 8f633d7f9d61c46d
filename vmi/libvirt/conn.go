package libvirt

import (
	"context"
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

// Conn is a connection to libvirtd. It is safe for concurrent use.
type Conn struct {
	l      *golibvirt.Libvirt
	target string

	evMu   sync.Mutex
	events *fanout // the one event subscription, made on first use
}

// dialTimeout bounds the unix socket connect, which go-libvirt does on its
// own clock; ctx bounds the whole handshake.
const dialTimeout = 15 * time.Second

// Dial connects to libvirtd. target is a libvirt URI ("qemu:///system",
// "qemu+unix:///system?socket=/path"), or the path of libvirtd's unix
// socket (then the URI is DefaultURI), or "" for DefaultSocket.
func Dial(ctx context.Context, target string) (*Conn, error) {
	if target == "" {
		target = DefaultSocket
	}
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
		return &Conn{l: r.l, target: target}, nil
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

// Close disconnects. Event channels close with it.
func (c *Conn) Close() error {
	if err := c.l.Disconnect(); err != nil {
		return fmt.Errorf("libvirt: disconnecting from %s: %w", c.target, err)
	}
	return nil
}

// Disconnected is closed when the connection to libvirtd is lost.
func (c *Conn) Disconnected() <-chan struct{} { return c.l.Disconnected() }

// call runs f, a go-libvirt RPC, bounded by ctx. go-libvirt calls take no
// context; when ctx ends first the call is left to finish in the
// background and its result is dropped.
func call[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	if err := ctx.Err(); err != nil {
		var zero T
		return zero, fmt.Errorf("libvirt: %s: %w", what, context.Cause(ctx))
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return r.v, wrap(what, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("libvirt: %s: %w", what, context.Cause(ctx))
	}
}

// call0 is call for RPCs without a result.
func call0(ctx context.Context, what string, f func() error) error {
	_, err := call(ctx, what, func() (struct{}, error) { return struct{}{}, f() })
	return err
}
