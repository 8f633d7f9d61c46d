package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
)

type oneDomain struct{ d libvirt.DomainInfo }

func (h oneDomain) Domains(context.Context) ([]libvirt.DomainInfo, error) {
	return []libvirt.DomainInfo{h.d}, nil
}

// bootStream collects what Boot sends.
type bootStream struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*pb.BootResponse
}

func (s *bootStream) Context() context.Context { return s.ctx }
func (s *bootStream) Send(r *pb.BootResponse) error {
	s.sent = append(s.sent, r)
	return nil
}

// TestBootLetsTheGuestRunWhenAttachFails: Boot started the domain paused;
// when it cannot take charge of it, it must not leave it frozen.
func TestBootLetsTheGuestRunWhenAttachFails(t *testing.T) {
	var started, resumed []string
	c := &Config{
		Log:        slog.Default(),
		Hypervisor: oneDomain{libvirt.DomainInfo{Name: "g", UUID: "00000000-0000-0000-0000-000000000001", State: libvirt.StateShutoff}},
		Start: func(_ context.Context, name string, paused bool) error {
			if !paused {
				t.Error("Boot started the domain running")
			}
			started = append(started, name)
			return nil
		},
		Attach: func(context.Context, string) (vmi.Target, error) { return nil, errors.New("no gdbstub") },
		Resume: func(_ context.Context, name string) error {
			resumed = append(resumed, name)
			return nil
		},
	}
	s := &bootService{c: testConfig(c)}
	stream := &bootStream{ctx: context.Background()}
	if err := s.Boot(&pb.BootRequest{Name: "g"}, stream); err != nil {
		t.Fatal(err)
	}
	last := stream.sent[len(stream.sent)-1].GetStatus()
	if last == nil || last.GetSuccess() || last.GetError() == "" {
		t.Fatalf("final message %v, want a failed status that says why", stream.sent[len(stream.sent)-1])
	}
	if len(started) != 1 || len(resumed) != 1 || resumed[0] != "g" {
		t.Errorf("started %v, resumed %v: the domain started paused must be let run", started, resumed)
	}
	if c.Registry.Lookup("g") != nil {
		t.Error("a VM Boot could not attach to is registered")
	}
}

// resumable is a target that records its resume.
type resumable struct {
	fakeBase
	resumed chan struct{}
}

func (r *resumable) Name() string { return "g" }
func (r *resumable) Resume(context.Context) error {
	close(r.resumed)
	return nil
}

// Running: stopped, as a target just attached is, until resumed.
func (r *resumable) Running() (bool, *vmi.Stop) {
	select {
	case <-r.resumed:
		return true, nil
	default:
		return false, &vmi.Stop{Seq: 1, Signal: 2}
	}
}

// leavingStream is a client that leaves (^C) once it has seen n messages.
type leavingStream struct {
	grpc.ServerStream
	ctx    context.Context
	cancel context.CancelFunc
	n      int
	sent   []*pb.BootResponse
}

func (s *leavingStream) Context() context.Context { return s.ctx }
func (s *leavingStream) Send(r *pb.BootResponse) error {
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	s.sent = append(s.sent, r)
	if len(s.sent) == s.n {
		s.cancel()
	}
	return nil
}

// TestBootOutlivesItsClient: a client that leaves at any point of Boot
// (here: right after BOOT_PHASE_ACCEPTED, while libvirt is still creating
// the domain) only stops watching. The boot runs to its end, the domain
// is resumed, and WatchBoot then replays the whole record.
func TestBootOutlivesItsClient(t *testing.T) {
	for _, leaveAfter := range []int{1, 2, 3} {
		release := make(chan struct{})
		tg := &resumable{resumed: make(chan struct{})}
		c := &Config{
			Log:        slog.Default(),
			Hypervisor: oneDomain{libvirt.DomainInfo{Name: "g", UUID: "00000000-0000-0000-0000-000000000001", State: libvirt.StateShutoff}},
			Start: func(ctx context.Context, name string, paused bool) error {
				<-release // libvirt is slow to create the domain
				return ctx.Err()
			},
			Attach: func(ctx context.Context, _ string) (vmi.Target, error) { return tg, ctx.Err() },
		}
		s := &bootService{c: testConfig(c)}
		ctx, cancel := context.WithCancel(context.Background())
		stream := &leavingStream{ctx: ctx, cancel: cancel, n: leaveAfter}
		done := make(chan error, 1)
		go func() { done <- s.Boot(&pb.BootRequest{Name: "g"}, stream) }()
		if leaveAfter == 1 {
			if err := <-done; err != nil {
				t.Fatalf("Boot returned %v when its client left", err)
			}
		}
		close(release)
		<-tg.resumed
		if leaveAfter > 1 {
			<-done
		}
		watch := &bootStream{ctx: context.Background()}
		if err := s.WatchBoot(&pb.WatchBootRequest{Name: "g", Follow: true}, watch); err != nil {
			t.Fatal(err)
		}
		var phases []pb.BootPhase
		for _, ev := range watch.sent {
			if p := ev.GetProgress(); p != nil {
				phases = append(phases, p.GetPhase())
			}
		}
		want := []pb.BootPhase{pb.BootPhase_BOOT_PHASE_ACCEPTED, pb.BootPhase_BOOT_PHASE_STARTING, pb.BootPhase_BOOT_PHASE_ATTACHED, pb.BootPhase_BOOT_PHASE_DONE}
		if fmt.Sprint(phases) != fmt.Sprint(want) {
			t.Errorf("client left after %d: replayed phases %v, want %v", leaveAfter, phases, want)
		}
		st := watch.sent[len(watch.sent)-1].GetStatus()
		if st == nil || !st.GetSuccess() || st.GetName() != "g" || st.GetFinished() == nil {
			t.Errorf("client left after %d: final status %v", leaveAfter, st)
		}
		if c.Registry.Lookup("g") == nil {
			t.Errorf("client left after %d: the booted VM is not attached", leaveAfter)
		}
	}
}

// TestWatchBootUnknown: a domain never booted by this frostd is NotFound.
func TestWatchBootUnknown(t *testing.T) {
	s := &bootService{c: testConfig(&Config{})}
	err := s.WatchBoot(&pb.WatchBootRequest{Name: "nope"}, &bootStream{ctx: context.Background()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("WatchBoot of an unknown boot: %v, want NotFound", err)
	}
}
