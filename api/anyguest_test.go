package api

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// A breakpoint at a raw address needs no Windows kernel (issue 14): on a
// guest with no symbols at all (frostd without a symbol path, or a guest
// that is not Windows), a kernel address arms, and so does a user address
// whose address space one DTB names. What needs Windows still says so.
func TestRawBreakpointsOnAnyGuest(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{Name: "linux"})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	addVM(t, c, "linux", tg)
	s := &breakpointService{c: c}
	ctx := context.Background()
	set := func(spec *pb.BreakpointSpec) (*pb.SetBreakpointResponse, error) {
		return s.SetBreakpoint(ctx, &pb.SetBreakpointRequest{Vm: "linux", Spec: spec})
	}
	r, err := set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0xffffffff81367680}})
	if err != nil {
		t.Fatalf("a kernel address without a Windows kernel: %v", err)
	}
	if r.GetBreakpoint().GetAddress() != 0xffffffff81367680 || len(tg.Armed()) != 1 {
		t.Errorf("armed %v; the stub has %v", r.GetBreakpoint(), tg.Armed())
	}
	if _, err := set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Address{Address: 0x401000},
		Filter: &pb.BreakpointFilter{Dtbs: []uint64{0x1aa000}}}); err != nil {
		t.Fatalf("a user address in one DTB: %v", err)
	}
	if l, err := s.ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: "linux"}); err != nil || len(l.GetBreakpoints()) != 2 {
		t.Errorf("listed %v, %v", l, err)
	}
	_, err = set(&pb.BreakpointSpec{Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"}})
	if status.Code(err) != codes.FailedPrecondition || reasonOf(err) != pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND {
		t.Errorf("a Windows symbol without symbols: %v", err)
	}
	if tg.Count(vmitest.OpPause) != 0 {
		t.Error("arming a raw breakpoint stopped the guest to look for a kernel")
	}
}
