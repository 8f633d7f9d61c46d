package api

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// heapLive is the heap still reachable after a full collection.
func heapLive() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave sync.Pool victims
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rssMiB is the process's resident set, for the log (not asserted: it
// counts the test's client side too, and the kernel's own timing).
func rssMiB() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, rss uint64
	fmt.Sscan(string(b), &size, &rss)
	return rss * uint64(os.Getpagesize()) >> 20
}

// Issue 19: each unread stream held ~8 MiB without bound (500 took frostd
// to 4.1 GB) and the memory stayed after they were cancelled. A client
// gets at most PerClient open streams, the next one is ResourceExhausted,
// what the open ones hold stays under their budget, and it comes back
// when they end.
func TestUnreadStreamsAreBounded(t *testing.T) {
	const chunk = maxChunkSize
	tg, err := vmitest.New(vmitest.Config{Name: "mem", RAM: 64 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	addVM(t, c, "mem", tg)
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	pb.RegisterMemoryServiceServer(srv, &memoryService{c: c})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	// Static 64 KiB windows (no BDP growth): the client then buffers
	// little, so the heap measured is the server's, as against a slow
	// client in another process.
	cc, err := grpc.NewClient("passthrough:///mem",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	mem := pb.NewMemoryServiceClient(cc)
	streams := c.sessions.Streams()
	per := streams.Limits().PerClient

	base := heapLive()
	t.Logf("before: RSS %d MiB", rssMiB())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := &pb.StreamPhysicalRequest{Vm: "mem", Length: 64 << 20, ChunkSize: chunk}
	for range per {
		if _, err := mem.StreamPhysical(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if n, _ := streams.Open(); n == per {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams open: %d, want %d", func() int { n, _ := streams.Open(); return n }(), per)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let every handler read ahead as far as it can: until the guest's
	// reads stop.
	for last := -1; ; {
		time.Sleep(100 * time.Millisecond)
		n := tg.Count(vmitest.OpReadPhysical)
		if n == last {
			break
		}
		last = n
	}
	over, err := mem.StreamPhysical(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := over.Recv(); status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "per client") {
		t.Errorf("stream %d of one client: %v, want ResourceExhausted naming the per-client cap", per+1, err)
	}
	held := heapLive() - min(base, heapLive())
	budget := uint64(per) * streamBufferedChunks * chunk
	t.Logf("%d unread streams of %d MiB chunks hold %d MiB of heap (budget %d MiB); RSS %d MiB", per, chunk>>20, held>>20, budget>>20, rssMiB())
	if held > budget {
		t.Errorf("%d unread streams hold %d MiB, over their budget of %d MiB", per, held>>20, budget>>20)
	}

	cancel()
	for {
		if n, b := streams.Open(); n == 0 && b == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled streams never ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := heapLive()
	time.Sleep(2 * time.Second) // the releases' FreeOSMemory runs on its own clock
	t.Logf("after cancel: heap %d MiB above the start; RSS %d MiB", (after-min(base, after))>>20, rssMiB())
	if after > base+16<<20 {
		t.Errorf("after the streams ended the heap is %d MiB above the start, want it back", (after-base)>>20)
	}
}

// The total cap and the byte budget hold across clients.
func TestStreamsTotalAndBytes(t *testing.T) {
	s := session.NewStreams(session.StreamLimits{PerClient: 2, Total: 3, Bytes: 100})
	var rel []func()
	for _, who := range []string{"a", "b", "c"} {
		r, err := s.Admit(who, 10)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	if _, err := s.Admit("d", 10); err == nil || !strings.Contains(err.Error(), "at most 3") {
		t.Errorf("a fourth stream in all: %v", err)
	}
	rel[0]()
	rel[0]() // twice is once
	if n, b := s.Open(); n != 2 || b != 20 {
		t.Errorf("after one release: %d open, %d bytes", n, b)
	}
	if _, err := s.Admit("d", 81); err == nil || !strings.Contains(err.Error(), "buffer") {
		t.Errorf("a stream over the byte budget: %v", err)
	}
	if r, err := s.Admit("d", 80); err != nil {
		t.Errorf("a stream within the budget: %v", err)
	} else {
		r()
	}
}
