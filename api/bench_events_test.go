package api_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// eventWindow is how long each side counts hits per iteration. The two
// sides take turns on the same guest, so both see the same writer.exe and
// the same machine load.
const eventWindow = 3 * time.Second

// benchEvents compares NtWriteFile hits delivered to a gRPC client that
// holds the guest at each and acks it, with the in-process monitor's event
// rate (issue 7's BenchmarkNtWriteFileMonitor, repeated here).
func (g *benchGuest) benchEvents(b *testing.B) {
	var inproc, grpcRate, cpu float64
	for i := 0; i < b.N; i++ {
		inproc += g.monitorRate(b)
		r, c := g.ackedRate(b)
		grpcRate += r
		cpu += c
	}
	b.ReportMetric(inproc/float64(b.N), "inproc-events/s")
	b.ReportMetric(grpcRate/float64(b.N), "grpc-acked-events/s")
	b.ReportMetric(100*grpcRate/inproc, "grpc/inproc-%")
	// The test process's CPU per acked hit: the API server and its client
	// together (QEMU is another process), so an upper bound on frostd's.
	b.ReportMetric(cpu/float64(b.N), "proc-cpu-ms/hit")
}

// monitorRate is the in-process monitor on its own target, outside the API.
func (g *benchGuest) monitorRate(b *testing.B) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t, err := vmi.OpenQEMU(ctx, g.m.Machine, vmi.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close(ctx)
	mgr, err := breakpoints.New(t, breakpoints.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer mgr.Close(ctx)
	stop, err := mgr.Pause(ctx)
	if err != nil {
		b.Fatal(err)
	}
	k, err := nt.Open(ctx, nt.Config{Physical: vmi.ReaderAt(t), Registers: stop.Registers, From: g.kernel, Symbols: g.symbols})
	if err != nil {
		b.Fatal(err)
	}
	mon, err := monitor.WatchNtWriteFile(ctx, mgr, k.Kernel, monitor.Options{
		Physical: vmi.ReaderAt(t), Queue: 1 << 16, Filter: monitor.Filter{Processes: []string{"writer.exe"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close(ctx)
	began := time.Now()
	if err := mgr.Resume(ctx); err != nil {
		b.Fatal(err)
	}
	n := 0
	deadline := time.After(eventWindow)
	for done := false; !done; {
		select {
		case <-mon.Events():
			n++
		case <-deadline:
			done = true
		}
	}
	return float64(n) / time.Since(began).Seconds()
}

// ackedRate is hits of nt!NtWriteFile in writer.exe through Subscribe with
// hold: the guest waits at each hit until the client's Ack arrives. It
// returns the rate and this process's CPU milliseconds per hit.
func (g *benchGuest) ackedRate(b *testing.B) (rate, cpuMS float64) {
	g.attach(b)
	defer g.detach(b)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bp := pb.NewBreakpointServiceClient(g.cc)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stream, err := bp.Subscribe(sctx, &pb.SubscribeRequest{
		Vm: benchVM, Hold: true, HoldDeadline: durationpb.New(5 * time.Second),
		Breakpoints: []*pb.BreakpointSpec{{
			Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
			Filter:   &pb.BreakpointFilter{ProcessNames: []string{"writer.exe"}},
		}},
	})
	if err != nil {
		b.Fatal(err)
	}
	// The window opens once the breakpoint is armed (finding the kernel
	// and loading symbols happen before "subscribed").
	first, err := stream.Recv()
	if err != nil || first.GetSubscribed() == nil {
		b.Fatalf("first message %v, %v", first, err)
	}
	sub := first.GetSubscribed().GetSubscriptionId()
	cpu0 := processCPU(b)
	began := time.Now()
	n := 0
	for time.Since(began) < eventWindow {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		hit := ev.GetHit()
		if hit == nil {
			continue
		}
		if !hit.GetHeld() || hit.GetDropped() != 0 {
			b.Fatalf("hit %d: held %v, dropped %d", hit.GetSequence(), hit.GetHeld(), hit.GetDropped())
		}
		if _, err := bp.Ack(ctx, &pb.AckRequest{Vm: benchVM, SubscriptionId: sub, Sequence: hit.GetSequence()}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	rate = float64(n) / time.Since(began).Seconds()
	if n > 0 {
		cpuMS = float64(processCPU(b)-cpu0) / float64(time.Millisecond) / float64(n)
	}
	return rate, cpuMS
}

// processCPU is this process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
