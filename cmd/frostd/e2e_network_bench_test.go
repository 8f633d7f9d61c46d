package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// BenchmarkNetworkCapture is what capturing frames costs against the bare
// breakpoint cycle on the same function: netclient.exe sends UDP bursts
// without end (no other traffic, no per-frame log line), and rounds of
// MonitorNetwork (every frame read, decoded and streamed with its bytes)
// alternate with rounds of a plain BreakpointService subscription on
// nt!NdisSendNetBufferLists, each for a fixed span of host time, on the
// same guest in the same run. The datagrams' payloads, "frost-burst K"
// with K counting up across rounds, say how many the capture missed: a
// gap in K between two captured frames.
//
//	go test -run '^$' -bench NetworkCapture -benchtime 1x -timeout 40m ./cmd/frostd/
func BenchmarkNetworkCapture(b *testing.B) {
	guestDir := requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer udp.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := udp.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	opts, err := minint.NetClientOptions{Rounds: minint.Forever, PeriodMS: 1, Pings: minint.NoneOf, DNS: minint.NoneOf,
		UDP: minint.NoneOf, TCPPort: minint.NoneOf, Burst: 200, UDPPort: udp.LocalAddr().(*net.UDPAddr).Port, NoFrameLog: true}.LoadOptions()
	if err != nil {
		b.Fatal(err)
	}
	conn := setupLibvirt(ctx, b)
	d := defineDomainWith(ctx, b, conn, minint.Config{GuestDir: guestDir, Network: true, LoadOptions: opts})
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), guestDir, "frostd.log", "--log-level", "info")
	if st := bootWithWinboot(ctx, b, fd.cc, d); !st.GetSuccess() {
		b.Fatalf("boot: %v", st)
	}
	d.waitSerial(b, "netclient's first burst", minint.MatchEvent("netclient-burst"))

	const rounds, span = 3, 5 * time.Second
	var capFrames, capCalls, capLost, missed, rawHits int
	var capTime, rawTime time.Duration
	b.ResetTimer()
	for range rounds {
		f, c, l, m, took := captureRound(ctx, b, fd.cc, d.name, span)
		capFrames, capCalls, capLost, missed, capTime = capFrames+f, capCalls+c, capLost+l, missed+m, capTime+took
		h, took := rawRound(ctx, b, fd.cc, d.name, span)
		rawHits, rawTime = rawHits+h, rawTime+took
	}
	b.StopTimer()
	b.ReportMetric(float64(capFrames)/capTime.Seconds(), "captured-frames/s")
	b.ReportMetric(float64(capCalls)/capTime.Seconds(), "captured-calls/s")
	b.ReportMetric(float64(rawHits)/rawTime.Seconds(), "raw-hits/s")
	b.ReportMetric(float64(capFrames)/float64(max(capCalls, 1)), "frames/call")
	b.ReportMetric(100*float64(capLost)/float64(max(capFrames+capLost, 1)), "lost%")
	b.ReportMetric(100*float64(missed)/float64(max(capFrames+missed, 1)), "missed%")
	b.Logf("capture: %d frames in %d calls, %d lost (frostd's count), %d missing from the payloads' numbering, over %v; raw: %d hits over %v",
		capFrames, capCalls, capLost, missed, capTime, rawHits, rawTime)
}

// captureRound streams MonitorNetwork for span, send direction only
// counted, and returns frames, calls, lost (frostd's counters as of the
// last report), datagrams missing between the first and last captured
// (by their payload's number) and the time from the first frame.
func captureRound(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string, span time.Duration) (frames, calls, lost, missed int, took time.Duration) {
	b.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewMonitorServiceClient(cc).MonitorNetwork(sctx, &pb.MonitorNetworkRequest{Vm: vm, IncludeFrames: true})
	if err != nil {
		b.Fatal(err)
	}
	var start time.Time
	var last *pb.NetworkCounters
	prev, numbered := 0, 0
	for start.IsZero() || time.Since(start) < span {
		m, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if c := m.GetCounters(); c != nil {
			last = c
		}
		f := m.GetFrame()
		if f == nil || f.GetDirection() != pb.FrameDirection_FRAME_DIRECTION_SEND {
			continue
		}
		if f.GetUnreadable() != "" || len(f.GetData()) != int(f.GetLength()) || !strings.Contains(f.GetSummary(), "UDP") {
			b.Fatalf("frame %d: %v", f.GetSequence(), f)
		}
		if start.IsZero() {
			start = time.Now()
		}
		frames++
		if _, num, ok := strings.Cut(string(f.GetData()), "frost-burst "); ok {
			k, err := strconv.Atoi(num)
			if err != nil {
				b.Fatalf("payload %q", num)
			}
			if prev > 0 && k > prev+1 {
				missed += k - prev - 1
			}
			prev = k
			numbered++
		}
	}
	if numbered == 0 {
		b.Fatal("no captured frame carried a frost-burst payload")
	}
	took = time.Since(start)
	if last != nil {
		calls, lost = int(last.GetCalls()), int(last.GetLost())
	}
	cancel()
	waitNoBreakpointsB(ctx, b, cc, vm)
	return frames, max(calls, 1), lost, missed, took
}

// rawRound subscribes to nt!NdisSendNetBufferLists with no handler of
// Frost's own (the hit's registers only) for span.
func rawRound(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string, span time.Duration) (int, time.Duration) {
	b.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewBreakpointServiceClient(cc).Subscribe(sctx, &pb.SubscribeRequest{Vm: vm,
		Breakpoints: []*pb.BreakpointSpec{{Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NdisSendNetBufferLists"}}}})
	if err != nil {
		b.Fatal(err)
	}
	var start time.Time
	hits := 0
	for start.IsZero() || time.Since(start) < span {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if ev.GetHit() == nil {
			continue
		}
		if start.IsZero() {
			start = time.Now()
			continue
		}
		hits++
	}
	took := time.Since(start)
	cancel()
	waitNoBreakpointsB(ctx, b, cc, vm)
	return hits, took
}
