package api

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc"

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
		Registry:   NewRegistry(nil),
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
	s := &bootService{c: c}
	err := s.Boot(&pb.BootRequest{Name: "g"}, &bootStream{ctx: context.Background()})
	if err == nil {
		t.Fatal("Boot succeeded without a target")
	}
	if len(started) != 1 || len(resumed) != 1 || resumed[0] != "g" {
		t.Errorf("started %v, resumed %v: the domain started paused must be let run", started, resumed)
	}
	if c.Registry.Lookup("g") != nil {
		t.Error("a VM Boot could not attach to is registered")
	}
}
