package api

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
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
