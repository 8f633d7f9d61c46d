package api

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// A breakpoint at a non-canonical address can never hit; the stub's
// refusal surfaced as Internal (issue 19). It is the caller's mistake:
// InvalidArgument, before anything is armed.
func TestBreakpointNonCanonicalAddress(t *testing.T) {
	ctx := context.Background()
	for _, addr := range []uint64{0xfff7f80000001000, 0x0000800000000000, 0x8000000000000000} {
		spec := &pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: addr}}
		_, _, err := managerSpec(ctx, "vm", nil, spec, "test")
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%#x: %v, want InvalidArgument", addr, err)
		}
	}
	spec := &pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0xfffff80000001000}}
	if _, _, err := managerSpec(ctx, "vm", nil, spec, "test"); err != nil {
		t.Errorf("canonical kernel address: %v", err)
	}
}

// serveConfig serves c's services on an in-memory connection.
func serveConfig(t *testing.T, c *Config) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	Register(srv, *c)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// Subscribe to a breakpoint id that names nothing succeeded and never
// delivered (issue 19): it is NotFound, naming the id.
func TestSubscribeUnknownBreakpointID(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux", RAM: 1 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	addVM(t, c, "linux", tg)
	cc := serveConfig(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bp := pb.NewBreakpointServiceClient(cc)
	st, err := bp.Subscribe(ctx, &pb.SubscribeRequest{Vm: "linux", BreakpointIds: []uint64{4242}})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "no breakpoint 4242") {
		t.Fatalf("Subscribe to breakpoint 4242: %v, want NotFound naming it", err)
	}
	// A breakpoint that exists is subscribed to.
	set, err := bp.SetBreakpoint(ctx, &pb.SetBreakpointRequest{Vm: "linux",
		Spec: &pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0xfffff80000001000}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err = bp.Subscribe(ctx, &pb.SubscribeRequest{Vm: "linux", BreakpointIds: []uint64{set.GetBreakpoint().GetId()}})
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil {
		t.Fatalf("Subscribe to breakpoint %d: %v", set.GetBreakpoint().GetId(), err)
	}
}

// A write to a guest-physical address outside RAM was Internal, as if the
// hypervisor had failed (issue 19): it is OutOfRange, naming the address.
func TestWritePhysicalOutsideRAM(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux", RAM: 1 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{AllowWrite: true})
	s := addVM(t, c, "linux", tg)
	ctx := context.Background()
	if _, err := s.Manager().Pause(ctx); err != nil {
		t.Fatal(err)
	}
	m := &memoryService{c: c}
	_, err = m.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: "linux", Address: 1 << 40, Data: []byte{1}})
	if status.Code(err) != codes.OutOfRange || !strings.Contains(err.Error(), "0x10000000000") {
		t.Fatalf("WritePhysical outside RAM: %v, want OutOfRange naming the address", err)
	}
}
