package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// BenchmarkStackEvents is what an unwound stack costs a breakpoint event:
// hits of nt!NtWriteFile in writer.exe (writing in a tight loop) streamed
// through frostd to a client, with and without stack: true, in alternating
// rounds of the same run on the same guest. ns/op is the whole run,
// the boot included: read the metrics.
//
//	go test -run '^$' -bench StackEvents -benchtime 300x -timeout 40m ./cmd/frostd/
func BenchmarkStackEvents(b *testing.B) {
	guestDir := requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, b)
	d := defineDomainWith(ctx, b, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: minint.WriterTightLoop})
	// At info level: frostd's debug log has a line per hit.
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), guestDir, "frostd.log", "--log-level", "info")
	if st := bootWithWinboot(ctx, b, fd.cc, d); !st.GetSuccess() {
		b.Fatalf("boot: %v", st)
	}
	d.waitSerial(b, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	writer := guestPIDs(b, d)["writer.exe"]

	const rounds = 3
	per := max(b.N/(2*rounds), 1)
	var plain, stacked time.Duration
	var plainHits, stackedHits, frames int
	b.ResetTimer()
	for range rounds {
		n, took, _ := streamHits(ctx, b, fd.cc, d.name, writer, false, per)
		plainHits, plain = plainHits+n, plain+took
		n, took, f := streamHits(ctx, b, fd.cc, d.name, writer, true, per)
		stackedHits, stacked, frames = stackedHits+n, stacked+took, frames+f
	}
	b.StopTimer()
	pr := float64(plainHits) / plain.Seconds()
	sr := float64(stackedHits) / stacked.Seconds()
	b.ReportMetric(pr, "plain-hits/s")
	b.ReportMetric(sr, "stack-hits/s")
	b.ReportMetric(100*sr/pr, "stack-of-plain%")
	b.ReportMetric(float64(frames)/float64(max(stackedHits, 1)), "frames/stack")
	// Per hit, the stack's share of the time.
	b.ReportMetric(float64((stacked/time.Duration(max(stackedHits, 1)) - plain/time.Duration(max(plainHits, 1))).Microseconds()), "stack-µs/hit")
}

// streamHits subscribes to nt!NtWriteFile in pid, times n hits after the
// first, and counts the stacks' frames; a stack that did not reach the
// thread's first frame fails the benchmark.
func streamHits(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string, pid uint32, stack bool, n int) (int, time.Duration, int) {
	b.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewBreakpointServiceClient(cc).Subscribe(sctx, &pb.SubscribeRequest{Vm: vm, Stack: stack,
		Breakpoints: []*pb.BreakpointSpec{{
			Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
			Filter:   &pb.BreakpointFilter{Pids: []uint32{pid}},
		}}})
	if err != nil {
		b.Fatal(err)
	}
	var start time.Time
	hits, frames := 0, 0
	for hits <= n {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		h := ev.GetHit()
		if h == nil {
			continue
		}
		if stack {
			if st := h.GetStack(); st.GetError() != "" || len(st.GetFrames()) < 5 {
				b.Fatalf("stack at hit %d: %d frames, error %q", hits, len(st.GetFrames()), st.GetError())
			}
			if hits > 0 {
				frames += len(h.GetStack().GetFrames())
			}
		}
		if hits == 0 {
			start = time.Now() // the first hit waited for the breakpoint to arm
		}
		hits++
	}
	took := time.Since(start)
	cancel()
	waitNoBreakpointsB(ctx, b, cc, vm)
	return hits - 1, took, frames
}

// waitNoBreakpointsB waits until the stream's breakpoint is gone.
func waitNoBreakpointsB(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string) {
	b.Helper()
	for deadline := time.Now().Add(guestWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list, err := pb.NewBreakpointServiceClient(cc).ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: vm})
		if err == nil && len(list.GetBreakpoints()) == 0 {
			return
		}
	}
	b.Fatal("the stream's breakpoint outlived it")
}
