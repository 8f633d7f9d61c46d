package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// shutdownGrace bounds how long open streams may take to finish once
// frostd is told to stop; the guests are let go after it either way.
const shutdownGrace = 5 * time.Second

func serve(ctx context.Context, c *config, log *slog.Logger, ready func(string)) error {
	network, addr := listenAddr(c.listen)
	// Before the socket exists: its group, roles, the audit log.
	ops, err := startOps(c, log)
	if err != nil {
		return err
	}
	defer ops.stop()
	var opts []grpc.ServerOption
	var lis net.Listener
	if network == "unix" {
		lis, err = listenUnix(addr)
		if err == nil {
			// The kernel's word on who connected (DumpPhysicalToFile
			// writes only into files that uid owns).
			lis = api.PeerCredentials(lis)
		}
	} else {
		creds, cerr := tcpCredentials(c)
		if cerr != nil {
			return cerr
		}
		if c.clientCA == "" {
			log.Warn("serving TCP without client certificates (--tcp-insecure-any-client): anyone who can connect can drive the guests")
		}
		opts = append(opts, grpc.Creds(creds))
		lis, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer lis.Close()
	if network == "unix" {
		defer os.Remove(addr)
	}

	// The crash record and the guard come first: a guard recovering
	// what a dead frostd held finishes before the record is read.
	rec := openCrashRecord(ctx, c, log)
	defer rec.close()
	state := rec.state
	reg := session.NewRegistry(nil, func(names []string) {
		if err := state.Save(names); err != nil {
			log.Error("writing the state file", "path", c.stateFile, "error", err)
		}
	})
	acfg := api.Config{Registry: reg, AllowWrite: c.allowWrite, DataDir: c.dataDir, Log: log}
	conn := dialLibvirt(ctx, c, log)
	if conn != nil {
		defer conn.Close()
		acfg.Hypervisor = conn
		acfg.Attach = func(ctx context.Context, name string) (vmi.Target, error) {
			return vmi.AttachDomain(ctx, conn, name, c.vmiOptions())
		}
		acfg.Start = func(ctx context.Context, name string, paused bool) error {
			d, err := conn.Lookup(ctx, name)
			if err != nil {
				return err
			}
			return d.Start(ctx, paused)
		}
		acfg.Resume = func(ctx context.Context, name string) error {
			d, err := conn.Lookup(ctx, name)
			if err != nil {
				return err
			}
			return d.Resume(ctx)
		}
	}
	acfg.Attach = rec.wire(reg, acfg.Attach)
	acfg.Symbols = openStore(c, log)
	// Upload spool files a crashed frostd left go now, not at the first
	// upload (opening the spool reaps them; it logs a spool it cannot use).
	go func() { _, _ = (&session.Config{DataDir: c.dataDir, Log: log}).Spool() }()
	// So do the gdbstub directories (/tmp/frost-gdb-*) an unclean exit
	// left, where nothing listens any more.
	go reapGDBDirs(log)
	rec.recover(reg)

	unary, stream := api.Interceptors(log)
	chain, err := ops.server(&acfg, unary, stream)
	if err != nil {
		return err
	}
	opts = append(opts, chain...)
	srv := grpc.NewServer(opts...)
	api.Register(srv, acfg)
	if network == "unix" {
		// Local clients may map guest RAM read-only (api.LocalMemory).
		defer serveLocalMemory(addr, reg, log)()
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	for _, name := range append(api.ServiceNames(), "") {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	vh := newVMHealth(hs, log)
	rec.useHealth(vh)
	if conn != nil {
		watchLibvirt(conn, vh, log)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("frostd serving", "listen", c.listen, "allow_write", c.allowWrite, "allow_software_breakpoints", c.allowSoftware, "state_file", c.stateFile)
	if c.allowSoftware {
		log.Warn("software breakpoints allowed under KVM (--allow-software-breakpoints): once the 4 debug registers are taken, or when a client asks, breakpoints write 0xCC into guest code, where the guest and Windows' kernel patch protection can see them")
	}
	if ready != nil {
		ready(lis.Addr().String())
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	hs.Shutdown() // NOT_SERVING: load balancers and probes stop sending
	// The guests go first: a stream holding one at a breakpoint would
	// otherwise keep it stopped through the whole grace period. Letting go
	// ends the breakpoint and monitor streams, so the graceful stop is
	// quick too.
	letGo(reg, log)
	stopServer(srv, log)
	// Again, for a VM a call still running attached meanwhile: the guests
	// must never be left stopped or with breakpoints in.
	letGo(reg, log)
	log.Info("frostd stopped")
	if errors.Is(err, grpc.ErrServerStopped) {
		err = nil
	}
	return err
}

func letGo(reg *session.Registry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.CloseAll(ctx); err != nil {
		log.Error("letting the VMs go", "error", err)
	}
}

func stopServer(srv *grpc.Server, log *slog.Logger) {
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		log.Warn("streams still open after the grace period; closing them")
		srv.Stop()
	}
}

// dialLibvirt connects once at start. Without libvirtd then, frostd
// still serves what needs none (symbols), and the VM calls say libvirt is
// missing (a wrong --libvirt is not retried forever). A libvirtd that
// goes away later is dialled again in the background, with backoff; the
// VM calls meanwhile say "libvirtd unavailable, reconnecting"
// (Unavailable).
func dialLibvirt(ctx context.Context, c *config, log *slog.Logger) *libvirt.Conn {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := libvirt.Dial(dctx, c.libvirtURI)
	if err != nil {
		log.Warn("no libvirt connection: the VM calls will fail until frostd restarts", "libvirt", c.libvirtURI, "error", err)
		return nil
	}
	return conn
}

// watchLibvirt reports libvirtd's losses and reconnections in the log and
// in the VM services' health (NOT_SERVING while it is away).
func watchLibvirt(conn *libvirt.Conn, vh *vmHealth, log *slog.Logger) {
	var mu sync.Mutex // Watch's first call may race the reconnector's
	wasUp := true
	conn.Watch(func(up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !up && wasUp:
			log.Error("libvirtd unavailable: reconnecting with backoff", "libvirt", conn.Target(), "error", err)
		case up && !wasUp:
			log.Info("libvirtd connected again", "libvirt", conn.Target())
		}
		wasUp = up
		vh.setLibvirt(up)
	})
}

func openStore(c *config, log *slog.Logger) *store.Store {
	if c.symbolPath == "" {
		log.Warn("no symbol path (--symbol-path or _NT_SYMBOL_PATH): symbols cannot be loaded")
		return nil
	}
	st, err := store.New(c.symbolPath, c.symbolCache)
	if err != nil {
		log.Error("bad symbol path; symbols cannot be loaded", "symbol_path", c.symbolPath, "error", err)
		return nil
	}
	return st
}

func reapGDBDirs(log *slog.Logger) {
	gone, err := libvirt.ReapGDBDirs("")
	if len(gone) > 0 {
		log.Info("removed gdbstub directories an unclean exit left", "dirs", gone)
	}
	if err != nil {
		log.Warn("reaping leftover gdbstub directories", "error", err)
	}
}
