package api

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
)

// stoppable is a Target whose run state is scripted: Pause returns next
// (as the real one does, a newer stop when it stopped a running guest, or
// the current one), Resume counts.
type stoppable struct {
	fakeBase
	mu      sync.Mutex
	running bool
	cur     *vmi.Stop // what Running reports when stopped
	next    *vmi.Stop // what Pause returns
	resumes int
	resumed chan struct{}
}

func (s *stoppable) Name() string { return "g" }
func (s *stoppable) Running() (bool, *vmi.Stop) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return true, nil
	}
	return false, s.cur
}
func (s *stoppable) Pause(context.Context) (*vmi.Stop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running, s.cur = false, s.next
	return s.next, nil
}
func (s *stoppable) Resume(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = true
	s.resumes++
	if s.resumed != nil {
		close(s.resumed)
		s.resumed = nil
	}
	return nil
}

// TestHoldLeavesTheGuestAsItWas: a hold resumes only a guest it stopped.
// A guest that looked stopped but whose pause returned a newer stop had
// been resumed from outside a moment before: it ran, so it runs again.
func TestHoldLeavesTheGuestAsItWas(t *testing.T) {
	old, newer := &vmi.Stop{Seq: 5, Signal: 2}, &vmi.Stop{Seq: 6, Signal: 2}
	for _, tc := range []struct {
		name     string
		tg       *stoppable
		wantRan  bool
		resumes  int
		readable bool
	}{
		{"running", &stoppable{running: true, next: newer}, true, 1, true},
		{"stopped", &stoppable{cur: old, next: old}, false, 0, true},
		{"resumed from outside unseen", &stoppable{cur: old, next: newer}, true, 1, true},
		{"stopped, stop not read yet", &stoppable{cur: nil, next: old}, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := addVM(t, testConfig(&Config{}), "g", tc.tg)
			h, err := vm.Hold(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if h.WasRunning != tc.wantRan {
				t.Errorf("wasRunning %v, want %v", h.WasRunning, tc.wantRan)
			}
			if err := h.Release(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.tg.resumes != tc.resumes {
				t.Errorf("%d resumes, want %d", tc.tg.resumes, tc.resumes)
			}
		})
	}
}

// holdServer serves the CPU service over a unix socket.
func holdServer(t *testing.T, tg vmi.Target) *grpc.ClientConn {
	t.Helper()
	c := testConfig(&Config{Log: slog.Default()})
	addVM(t, c, "g", tg)
	sock := filepath.Join(t.TempDir(), "s")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	Register(srv, Config{Registry: c.Registry, Log: slog.Default()})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestHoldEndsWithItsClient: a client that holds the guest and goes away
// (cancelled, as a killed process's connection is) leaves it running; one
// that ends the hold gets the release confirmed.
func TestHoldEndsWithItsClient(t *testing.T) {
	tg := &stoppable{running: true, next: &vmi.Stop{Seq: 1, Signal: 2}, resumed: make(chan struct{})}
	cc := holdServer(t, tg)
	cpu := pb.NewCPUServiceClient(cc)

	ctx, leave := context.WithCancel(context.Background())
	stream, err := cpu.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.HoldRequest{Vm: "g"}); err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !first.GetWasRunning() || first.GetStop() == nil {
		t.Fatalf("first response %v", first)
	}
	if running, _ := tg.Running(); running {
		t.Fatal("the guest runs while held")
	}
	resumed := tg.resumed
	leave()
	select {
	case <-resumed:
	case <-time.After(10 * time.Second):
		t.Fatal("the guest stayed stopped after its holder left")
	}

	// A hold ended by the client: the last response confirms it.
	tg.mu.Lock()
	tg.next = &vmi.Stop{Seq: 2, Signal: 2}
	tg.mu.Unlock()
	stream, err = cpu.Hold(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&pb.HoldRequest{Vm: "g"})
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	stream.CloseSend()
	last, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !last.GetReleased() || last.GetExpired() {
		t.Errorf("last response %v", last)
	}
	if running, _ := tg.Running(); !running {
		t.Error("the guest is stopped after the hold was released")
	}
}

// TestHoldExpires: a hold never outlasts its maximum.
func TestHoldExpires(t *testing.T) {
	tg := &stoppable{running: true, next: &vmi.Stop{Seq: 1, Signal: 2}}
	cpu := pb.NewCPUServiceClient(holdServer(t, tg))
	stream, err := cpu.Hold(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&pb.HoldRequest{Vm: "g", MaxDuration: durationMs(50)})
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	last, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if !last.GetExpired() || !last.GetReleased() {
		t.Errorf("last response %v, want expired and released", last)
	}
	if running, _ := tg.Running(); !running {
		t.Error("an expired hold left the guest stopped")
	}
}

// noThreadStop is a target whose pause returns a stop naming no vCPU, and
// so no registers and no error (the gdbstub does this): finding the
// kernel must fail, not panic.
type noThreadStop struct{ stoppable }

func TestKernelWithoutRegistersFails(t *testing.T) {
	st, err := store.New(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	tg := &noThreadStop{stoppable{running: true, next: &vmi.Stop{Seq: 1, Signal: 2}}}
	c := testConfig(&Config{Symbols: st, Log: slog.Default()})
	vm := addVM(t, c, "g", tg)
	if _, err := c.kernel(context.Background(), vm); err == nil {
		t.Fatal("found a kernel without registers")
	}
	if running, _ := tg.Running(); !running {
		t.Error("the guest stayed stopped after the failed lookup")
	}
}

func durationMs(ms int) *durationpb.Duration {
	return durationpb.New(time.Duration(ms) * time.Millisecond)
}
