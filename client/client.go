package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Client is a connection to frostd: the generated service clients, and
// reads that go through a local mapping of guest RAM when frostd hands
// one out (see the package documentation).
type Client struct {
	cc *grpc.ClientConn

	VM         pb.VMServiceClient
	Boot       pb.BootServiceClient
	CPU        pb.CPUServiceClient
	Memory     pb.MemoryServiceClient
	Process    pb.ProcessServiceClient
	Symbol     pb.SymbolServiceClient
	Breakpoint pb.BreakpointServiceClient
	Monitor    pb.MonitorServiceClient
	Dump       pb.DumpServiceClient

	opt options
	// memSock is the local-memory side socket, "" when reads go over gRPC
	// only (TCP, or local memory turned off).
	memSock string

	mu   sync.Mutex
	rams map[string]*vmRAM // by VM name as the caller spells it
	dtbs map[dtbKey]dtbEntry

	// clock is a coarse time (Unix ns) for the caches' ages, ticked by a
	// goroutine every clockTick: reading the clock costs ~200 ns on a
	// guest without a stable TSC, as much as the rest of a local read.
	clock     atomic.Int64
	stopClock chan struct{}
	closeOnce sync.Once
}

// clockTick is the coarse clock's resolution: the caches' ages are
// accurate to it.
const clockTick = 50 * time.Millisecond

func (c *Client) now() time.Time { return time.Unix(0, c.clock.Load()) }

func (c *Client) runClock() {
	t := time.NewTicker(clockTick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.clock.Store(now.UnixNano())
		case <-c.stopClock:
			return
		}
	}
}

// Option configures Dial.
type Option func(*options)

type options struct {
	tls        *tls.Config
	local      bool
	memSock    string
	dtbMaxAge  time.Duration
	mapRecheck time.Duration
	dialOpts   []grpc.DialOption
}

// WithTLS sets the TLS configuration for a tcp: address (frostd's TCP
// listener requires TLS, normally with a client certificate in
// cfg.Certificates). Without it a tcp: address is refused.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithoutLocalMemory makes every read go over gRPC, even on a unix
// socket where frostd would hand out guest RAM.
func WithoutLocalMemory() Option { return func(o *options) { o.local = false } }

// WithLocalMemorySocket names the local-memory side socket, for a frostd
// whose side socket is not at the default place beside its socket.
func WithLocalMemorySocket(path string) Option { return func(o *options) { o.memSock = path } }

// WithDTBMaxAge sets how long a process's page-table base (DTB), learnt
// from frostd, is used for local walks before frostd is asked again
// (default DefaultDTBMaxAge). 0 caches nothing: every ReadVirtual goes
// over gRPC.
func WithDTBMaxAge(d time.Duration) Option { return func(o *options) { o.dtbMaxAge = d } }

// WithMapRecheck sets how often a VM's mapping is checked against frostd
// (default DefaultMapRecheck): the check asks the side socket again and
// remaps when the RAM file changed (the domain restarted, frostd
// re-attached another QEMU).
func WithMapRecheck(d time.Duration) Option { return func(o *options) { o.mapRecheck = d } }

// WithDialOptions adds gRPC dial options (interceptors, sizes).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

const (
	// DefaultDTBMaxAge bounds how long a local walk may use the page
	// tables of a process that has since exited (and whose pid and table
	// pages may have been reused).
	DefaultDTBMaxAge = time.Second
	// DefaultMapRecheck bounds how long a mapping of a QEMU that has
	// since gone (a restarted domain) is read.
	DefaultMapRecheck = 5 * time.Second
)

// Dial connects to frostd at addr: a unix socket path (optionally
// "unix:PATH"), or "tcp:HOST:PORT" with WithTLS. Like grpc.NewClient it
// does not wait for the connection; the first call does.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := options{local: true, dtbMaxAge: DefaultDTBMaxAge, mapRecheck: DefaultMapRecheck}
	for _, f := range opts {
		f(&o)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var target string
	dopts := append([]grpc.DialOption(nil), o.dialOpts...)
	var memSock string
	if rest, ok := strings.CutPrefix(addr, "tcp:"); ok {
		if o.tls == nil {
			return nil, errors.New("client: a tcp: address needs WithTLS (frostd serves TCP only with TLS)")
		}
		host := strings.TrimPrefix(rest, "//")
		if host == "" {
			return nil, fmt.Errorf("client: %q names no host:port", addr)
		}
		target = "dns:///" + host
		dopts = append(dopts, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
		// Guest RAM is never handed over TCP: the descriptor passing
		// needs a unix socket, and a remote client could not map it.
	} else {
		path := strings.TrimPrefix(addr, "unix:")
		if path == "" {
			return nil, errors.New("client: empty socket path")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		target = "unix://" + abs
		dopts = append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if o.local {
			memSock = o.memSock
			if memSock == "" {
				memSock = LocalMemorySocket(abs)
			}
		}
	}
	cc, err := grpc.NewClient(target, dopts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return newClient(cc, memSock, o), nil
}

// LocalMemorySocket is where frostd serves its side socket for a gRPC
// socket at path: beside it, "frostd.sock" giving "frostd.mem.sock".
func LocalMemorySocket(path string) string {
	dir, base := filepath.Split(path)
	return filepath.Join(dir, strings.TrimSuffix(base, ".sock")+".mem.sock")
}

func newClient(cc *grpc.ClientConn, memSock string, o options) *Client {
	c := &Client{
		cc:         cc,
		VM:         pb.NewVMServiceClient(cc),
		Boot:       pb.NewBootServiceClient(cc),
		CPU:        pb.NewCPUServiceClient(cc),
		Memory:     pb.NewMemoryServiceClient(cc),
		Process:    pb.NewProcessServiceClient(cc),
		Symbol:     pb.NewSymbolServiceClient(cc),
		Breakpoint: pb.NewBreakpointServiceClient(cc),
		Monitor:    pb.NewMonitorServiceClient(cc),
		Dump:       pb.NewDumpServiceClient(cc),
		opt:        o,
		memSock:    memSock,
		rams:       map[string]*vmRAM{},
		dtbs:       map[dtbKey]dtbEntry{},
		stopClock:  make(chan struct{}),
	}
	c.clock.Store(time.Now().UnixNano())
	if memSock != "" {
		go c.runClock()
	}
	return c
}

// Conn is the gRPC connection, for services added later.
func (c *Client) Conn() *grpc.ClientConn { return c.cc }

// Close unmaps guest RAM and closes the connection.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.stopClock) })
	c.mu.Lock()
	rams := c.rams
	c.rams = map[string]*vmRAM{}
	c.mu.Unlock()
	var errs []error
	for _, r := range rams {
		errs = append(errs, r.close())
	}
	errs = append(errs, c.cc.Close())
	return errors.Join(errs...)
}
