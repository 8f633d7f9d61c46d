package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/metrics"
	"github.com/frostvmi/frost/session"
)

// ops is what the operations flags add to serve: the socket's group, the
// audit log, roles, and the metrics listener.
type ops struct {
	c       *opsConfig
	log     *slog.Logger
	roles   *api.Roles
	auditor *api.Auditor
	undo    []func()
}

// startOps applies the flags that must act before the socket exists (its
// group) and opens the audit log. stop undoes them.
func startOps(c *config, log *slog.Logger) (*ops, error) {
	o := &ops{c: &c.ops, log: log}
	network, addr := listenAddr(c.listen)
	if network == "unix" && o.c.socketGroup != "" {
		if err := groupableDir(os.Geteuid(), filepath.Dir(addr)); err != nil {
			return nil, err
		}
		g, err := lookupSocketGroup(o.c.socketGroup)
		if err != nil {
			return nil, err
		}
		o.undo = append(o.undo, shareSocketDir(filepath.Dir(addr), g))
	}
	r, err := o.c.roles()
	if err != nil {
		o.stop()
		return nil, err
	}
	o.roles = r
	if o.c.auditLog != "" {
		a, err := api.OpenAuditor(o.c.auditLog, r, log)
		if err != nil {
			o.stop()
			return nil, err
		}
		o.auditor = a
		o.undo = append(o.undo, func() { a.Close() })
	}
	return o, nil
}

func (o *ops) stop() {
	for i := len(o.undo) - 1; i >= 0; i-- {
		o.undo[i]()
	}
	o.undo = nil
}

// server gives the gRPC server its interceptors, in this order: metrics
// (so every call is counted, refused ones too), frostd's log, the audit
// log (so a refused write is on record), roles. It starts the metrics
// listener when asked for. Call it before api.Register(acfg).
func (o *ops) server(acfg *api.Config, unary grpc.UnaryServerInterceptor, stream grpc.StreamServerInterceptor) ([]grpc.ServerOption, error) {
	us := []grpc.UnaryServerInterceptor{}
	ss := []grpc.StreamServerInterceptor{}
	if o.c.metricsListen != "" {
		m := metrics.New(acfg.Registry)
		// Boot runs on this Booter (api.Register fills it in), so its
		// phases reach the scrape.
		if acfg.Booter == nil {
			acfg.Booter = &session.Booter{}
		}
		m.WatchBoots(acfg.Booter)
		mu, ms := m.Interceptors()
		us, ss = append(us, mu), append(ss, ms)
		stop, err := serveMetrics(o.c.metricsListen, m.Handler(o.c.pprof), o.log)
		if err != nil {
			return nil, err
		}
		o.undo = append(o.undo, stop)
		o.log.Warn("metrics served without authentication", "metrics_listen", o.c.metricsListen, "pprof", o.c.pprof)
	}
	us, ss = append(us, unary), append(ss, stream)
	if o.auditor != nil {
		au, as := o.auditor.Interceptors()
		us, ss = append(us, au), append(ss, as)
	}
	if o.roles != nil {
		ru, rs := o.roles.Interceptors()
		us, ss = append(us, ru), append(ss, rs)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(us...), grpc.ChainStreamInterceptor(ss...)}, nil
}

// serveMetrics listens on a unix path (made like frostd's socket: 0600,
// or the socket group's) or a loopback address.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (stop func(), err error) {
	var l net.Listener
	if isUnixPath(addr) {
		l, err = listenUnix(strings.TrimPrefix(addr, "unix:"))
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "addr", addr, "error", err)
		}
	}()
	log.Info("metrics serving", "addr", l.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		if isUnixPath(addr) {
			os.Remove(strings.TrimPrefix(addr, "unix:"))
		}
	}, nil
}
