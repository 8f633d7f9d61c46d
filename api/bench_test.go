package api_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
)

// Issue 8's benchmarks: the API's costs against in-process and transport
// baselines measured on the same guest in the same run. Run them alone,
// with nothing else booting guests (they take the TCG lock for the whole
// run):
//
//	go test -run '^$' -bench API -benchtime 3x -timeout 30m ./api/
//
// FROST_BENCH_CLIENTS_SECONDS shortens the 32-client run (default 60).

const benchVM = "mini-nt"

// benchGuest is one mini-NT boot shared by the sub-benchmarks, served by
// the API on a unix socket; the VM is attached and detached through the
// registry and Detach as each measurement needs.
type benchGuest struct {
	m        *minint.Machine
	reg      *session.Registry
	cc       *grpc.ClientConn
	sock     string
	symbols  *store.Store
	kernel   uint64 // the kernel base the guest reported
	swapper  uint32 // swapper.exe's pid
	pattern  uint64 // swapper's pattern region
	patPages uint64
}

func BenchmarkAPI(b *testing.B) {
	dir := guesttest.Dir(b)
	ctx := guesttest.Context(b)
	// writer.exe in a tight loop feeds the event benchmark; 16384 pattern
	// pages give swapper a 64 MiB region to read, and 256 MiB of RAM hold
	// it whole. No paging file: nothing can leave RAM.
	m := guesttest.Boot(b, minint.Config{GuestDir: dir, Seed: minint.Seed(800), WriterPeriodMS: minint.WriterTightLoop,
		SwapperPages: 16384, MemoryMB: 256})
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		b.Fatal(err)
	}
	var err error
	g := &benchGuest{m: m}
	g.readReport(b)
	if g.symbols, err = store.New(dir, ""); err != nil {
		b.Fatal(err)
	}
	g.symbols.Offline = true
	g.serve(b)

	b.Run("events", g.benchEvents)
	b.Run("read-64MiB", g.benchRead)
	b.Run("clients-32", g.benchClients)
}

func (g *benchGuest) readReport(b *testing.B) {
	rep, err := g.m.Report()
	if err != nil {
		b.Fatal(err)
	}
	k, ok1 := rep.First("kernel")
	s, ok2 := rep.First("swapper")
	if !ok1 || !ok2 {
		b.Fatal("the guest reported no kernel or no swapper event")
	}
	var pid uint64
	for _, f := range []struct {
		e   minint.Event
		key string
		dst *uint64
	}{{k, "base", &g.kernel}, {s, "pid", &pid}, {s, "pattern-base", &g.pattern}, {s, "pages", &g.patPages}} {
		if *f.dst, err = f.e.Uint(f.key); err != nil {
			b.Fatal(err)
		}
	}
	g.swapper = uint32(pid)
}

// serve registers the API on a unix socket, the transport frostd uses.
func (g *benchGuest) serve(b *testing.B) {
	g.reg = session.NewRegistry(nil, nil)
	g.sock = filepath.Join(b.TempDir(), "api.sock")
	lis, err := net.Listen("unix", g.sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	api.Register(srv, api.Config{Registry: g.reg, Symbols: g.symbols, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go srv.Serve(lis)
	b.Cleanup(srv.Stop)
	g.cc = dialBench(b, g.sock)
}

func dialBench(b *testing.B, sock string) *grpc.ClientConn {
	b.Helper()
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return cc
}

// attach puts the guest in the API's registry, running: opening a target
// leaves the guest stopped, which the API's callers never see.
func (g *benchGuest) attach(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t, err := vmi.OpenQEMU(ctx, g.m.Machine, vmi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	vm, err := session.New(&session.Config{Symbols: g.symbols}, benchVM, "", t)
	if err != nil {
		t.Close(ctx)
		b.Fatal(err)
	}
	if err := g.reg.Add(vm); err != nil {
		vm.Close(ctx)
		b.Fatal(err)
	}
	if _, err := pb.NewCPUServiceClient(g.cc).Resume(ctx, &pb.ResumeRequest{Vm: benchVM}); err != nil {
		b.Fatal(err)
	}
}

// detach lets the guest go through the API (breakpoints removed, D;1).
func (g *benchGuest) detach(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pb.NewVMServiceClient(g.cc).Detach(ctx, &pb.DetachRequest{Vm: benchVM}); err != nil {
		b.Fatal(err)
	}
}
