package api

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The kind a client asks for reaches the manager, and the answer says
// which kind was armed and whether the guest can see it; refusals map to
// the codes the proto promises and say what to pass. Under KVM without
// the operator's consent (a fake guest: this machine's KVM dies on 0xCC).
func TestBreakpointKinds(t *testing.T) {
	for _, consent := range []bool{false, true} {
		caps, err := vmi.CapabilitiesFor(vmi.AccelKVM, consent)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := vmitest.New(vmitest.Config{Name: "kvm", Capabilities: &caps})
		if err != nil {
			t.Fatal(err)
		}
		c := testConfig(&Config{})
		addVM(t, c, "kvm", tg)
		s := &breakpointService{c: c}
		ctx := context.Background()
		addr := uint64(0xfffff800_00100000)
		set := func(kind pb.BreakpointKind) (*pb.Breakpoint, error) {
			addr += 0x40
			r, err := s.SetBreakpoint(ctx, &pb.SetBreakpointRequest{Vm: "kvm", Spec: &pb.BreakpointSpec{
				Location: &pb.BreakpointSpec_Address{Address: addr}, Kind: kind}})
			return r.GetBreakpoint(), err
		}

		sw, err := set(pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE)
		switch {
		case consent && (err != nil || sw.GetKind() != pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE || !sw.GetVisibleToGuest()):
			t.Errorf("software with consent: %v, %v; want software, visible", sw, err)
		case !consent && (status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "--allow-software-breakpoints")):
			t.Errorf("software without consent: %v; want FailedPrecondition naming the flag", err)
		}
		for i := range 4 {
			b, err := set(pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE)
			if err != nil || b.GetKind() != pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE || b.GetVisibleToGuest() {
				t.Fatalf("hardware %d: %v, %v", i, b, err)
			}
		}
		if _, err := set(pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE); status.Code(err) != codes.ResourceExhausted ||
			reasonOf(err) != pb.ErrorReason_ERROR_REASON_NO_BREAKPOINT_SLOT || !strings.Contains(err.Error(), "api at") {
			t.Errorf("a 5th hardware: %v; want ResourceExhausted naming who holds them", err)
		}
		auto, err := set(pb.BreakpointKind_BREAKPOINT_KIND_UNSPECIFIED)
		switch {
		case consent && (err != nil || !auto.GetVisibleToGuest()):
			t.Errorf("auto with the registers full and consent: %v, %v; want a visible software breakpoint", auto, err)
		case !consent && status.Code(err) != codes.ResourceExhausted:
			t.Errorf("auto with the registers full: %v; want ResourceExhausted", err)
		}
		if _, err := set(pb.BreakpointKind(7)); status.Code(err) != codes.InvalidArgument {
			t.Errorf("kind 7: %v; want InvalidArgument", err)
		}

		l, err := s.ListBreakpoints(ctx, &pb.ListBreakpointsRequest{Vm: "kvm"})
		if err != nil {
			t.Fatal(err)
		}
		var hw, visible int
		for _, b := range l.GetBreakpoints() {
			if b.GetKind() == pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE {
				hw++
			}
			if b.GetVisibleToGuest() {
				visible++
			}
		}
		if want := map[bool]int{false: 0, true: 2}[consent]; hw != 4 || visible != want {
			t.Errorf("consent %v: listed %d hardware, %d visible; want 4 and %d", consent, hw, visible, want)
		}
	}
}
