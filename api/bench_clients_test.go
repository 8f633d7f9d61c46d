package api_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

const benchClients = 32

// benchClients runs 32 clients, each on its own connection, reading a
// random 4 KiB pattern page of swapper.exe by pid in a loop for 60 s while
// the guest runs. Every error or wrong page fails the benchmark; it reports
// the latency percentiles and the total rate.
func (g *benchGuest) benchClients(b *testing.B) {
	window := 60 * time.Second
	if s := os.Getenv("FROST_BENCH_CLIENTS_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("FROST_BENCH_CLIENTS_SECONDS=%q", s)
		}
		window = time.Duration(n) * time.Second
	}
	g.attach(b)
	defer g.detach(b)
	// The kernel is found once, on the first call; keep that out of the
	// latencies.
	if _, err := g.readPage(context.Background(), pb.NewMemoryServiceClient(g.cc), 0); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		lat, errs := g.clientsRun(b, window)
		if len(errs) > 0 {
			b.Fatalf("%d errors of %d calls; first: %v", len(errs), len(lat)+len(errs), errs[0])
		}
		slices.Sort(lat)
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(len(lat))/window.Seconds(), "reads/s")
		b.ReportMetric(0, "errors")
	}
}

func (g *benchGuest) clientsRun(b *testing.B, window time.Duration) ([]time.Duration, []error) {
	// A call still waiting a minute after the window is an error, not a
	// latency.
	ctx, cancel := context.WithTimeout(context.Background(), window+time.Minute)
	defer cancel()
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	end := time.Now().Add(window)
	for c := 0; c < benchClients; c++ {
		mem := pb.NewMemoryServiceClient(dialBench(b, g.sock))
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 8))
			var mine []time.Duration
			var bad []error
			for time.Now().Before(end) {
				page := r.Uint64N(g.patPages)
				d, err := g.readPage(ctx, mem, page)
				if err != nil {
					bad = append(bad, err)
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat, errs = append(lat, mine...), append(errs, bad...)
			mu.Unlock()
		}(uint64(c))
	}
	wg.Wait()
	return lat, errs
}

// readPage reads pattern page i with ReadVirtual and checks its first
// qword: a wrong page is an error like a failed call.
func (g *benchGuest) readPage(ctx context.Context, mem pb.MemoryServiceClient, i uint64) (time.Duration, error) {
	began := time.Now()
	rd, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: benchVM,
		Space: &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: g.swapper}}, Address: g.pattern + i*4096, Length: 4096})
	d := time.Since(began)
	if err != nil {
		return d, err
	}
	if data := rd.GetData(); len(data) != 4096 || binary.LittleEndian.Uint64(data) != patMagic|i {
		return d, fmt.Errorf("pattern page %d: wrong bytes (pages %v)", i, rd.GetPages())
	}
	return d, nil
}
