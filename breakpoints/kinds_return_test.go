package breakpoints

import (
	"context"
	"errors"
	"testing"

	"github.com/frostvmi/frost/vmi/gdbstub"
)

// TestReturnInheritsKind: under KVM with visible breakpoints allowed and
// every debug register taken, the return of a call whose breakpoint asked
// for hardware is refused rather than armed as a visible 0xCC, while an
// automatic breakpoint's return falls back to software as automatic ones
// do.
func TestReturnInheritsKind(t *testing.T) {
	for _, c := range []struct {
		kind KindChoice
		want Placement // the return's placement; zero: refused
	}{
		{KindHardware, Placement{}},
		{KindAuto, Placement{Kind: gdbstub.Software, Visible: true}},
	} {
		t.Run(c.kind.String(), func(t *testing.T) {
			f := newFake(t, kvmCaps(t, gdbstub.AccelKVM, true))
			m := newManager(t, f, Options{Translate: identity})
			ctx := testCtx(t)
			var ret Armed
			var armErr error
			if _, err := m.Add(ctx, Spec{Addr: kfn, Kind: c.kind, Owner: "caller", Handler: func(ctx context.Context, fr *Frame) error {
				ret, armErr = fr.BreakOnReturn(ctx, ReturnSpec{ReturnAddress: kfn2, Owner: "caller (return)"})
				return nil
			}}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if a, err := m.Add(ctx, Spec{Addr: kfn + 0x1000 + uint64(i)*0x10, Owner: "other"}); err != nil || a.Kind != gdbstub.Hardware {
					t.Fatalf("filling the debug registers: %+v, %v", a, err)
				}
			}
			f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "rsp": 0x8000}))
			if c.want == (Placement{}) {
				if !errors.Is(armErr, ErrNoSlot) {
					t.Fatalf("the return of a hardware-only call: %+v, %v; want ErrNoSlot", ret, armErr)
				}
				return
			}
			if armErr != nil || ret.Placement != c.want {
				t.Fatalf("the return of an automatic call: %+v, %v; want %v", ret, armErr, c.want)
			}
		})
	}
}
