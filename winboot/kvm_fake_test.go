package winboot

import (
	"errors"
	"strings"
	"testing"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
)

// Under KVM (a fake guest: this machine's KVM kills a guest on 0xCC)
// winboot's two breakpoints take debug registers, invisible to the guest
// and to Windows' kernel patch protection, so clients keep the other two,
// and software breakpoints after them when the operator allows those; a
// client refused a slot is told that winboot holds two of them.
func TestRunUnderKVMKeepsHardware(t *testing.T) {
	for _, consent := range []bool{false, true} {
		t.Run(map[bool]string{false: "without consent", true: "with consent"}[consent], func(t *testing.T) {
			caps, err := vmi.CapabilitiesFor(vmi.AccelKVM, consent)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			b := newFakeBootOn(t, &caps)
			b.run(ctx)
			b.armed(ctx, 2)
			for _, bp := range b.tg.Armed() {
				if bp.Kind != vmi.HardwareBreakpoint {
					t.Errorf("winboot armed %v, want debug registers", bp)
				}
			}
			var clients []breakpoints.ID
			for i := range 2 {
				a, err := b.mgr.Add(ctx, breakpoints.Spec{Addr: nttest.KernelBase + 0x5000 + uint64(i)*0x10, Owner: "client"})
				if err != nil || a.Kind != vmi.HardwareBreakpoint {
					t.Fatalf("client breakpoint %d: %+v, %v; want a debug register", i, a, err)
				}
				clients = append(clients, a.ID)
			}
			a, err := b.mgr.Add(ctx, breakpoints.Spec{Addr: nttest.KernelBase + 0x6000, Owner: "client"})
			if consent {
				if err != nil || a.Placement != (breakpoints.Placement{Kind: vmi.SoftwareBreakpoint, Visible: true}) {
					t.Fatalf("a 3rd client breakpoint with consent: %+v, %v; want a visible software one", a, err)
				}
				clients = append(clients, a.ID)
			} else {
				if !errors.Is(err, breakpoints.ErrNoSlot) {
					t.Fatalf("a 3rd client breakpoint: %+v, %v; want ErrNoSlot", a, err)
				}
				for _, s := range []string{"4 of 4", "winboot:" + fnPhase1, "winboot:" + fnPagingFile, "client at", "--allow-software-breakpoints"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("the refusal %q does not mention %q", err, s)
					}
				}
			}
			for _, id := range clients {
				if err := b.mgr.Remove(ctx, id); err != nil {
					t.Fatal(err)
				}
			}

			rsp := b.g.Call(nttest.KernelBase + 0x2000)
			b.hit(ctx, b.g.Registers(b.g.Global(fnPhase1), rsp))
			b.armed(ctx, 2) // the entry was one-shot; its return took its register
			for _, bp := range b.tg.Armed() {
				if bp.Kind != vmi.HardwareBreakpoint {
					t.Errorf("after Phase1's entry winboot holds %v, want debug registers", bp)
				}
			}
			b.hit(ctx, b.g.Registers(nttest.KernelBase+0x2000, rsp+8))
			b.g.Process(500, 4, "csrss.exe")
			rep, err := b.wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Visible() || len(rep.Breakpoints) != 2 {
				t.Errorf("report: %d breakpoints, visible %v; want 2 invisible", len(rep.Breakpoints), rep.Visible())
			}
			for _, u := range rep.Breakpoints {
				if u.Placement.Kind != vmi.HardwareBreakpoint {
					t.Errorf("report: nt!%s %v, want hardware", u.Function, u.Placement)
				}
			}
		})
	}
}

// Clients took every debug register before the boot: without consent
// winboot cannot arm, and its error says how many are in use and by whom.
func TestRunUnderKVMSlotsTaken(t *testing.T) {
	caps, err := vmi.CapabilitiesFor(vmi.AccelKVM, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	b := newFakeBootOn(t, &caps)
	for i := range 4 {
		if _, err := b.mgr.Add(ctx, breakpoints.Spec{Addr: nttest.KernelBase + 0x5000 + uint64(i)*0x10, Owner: "subscription 7"}); err != nil {
			t.Fatal(err)
		}
	}
	b.run(ctx)
	_, err = b.wait(ctx)
	if !errors.Is(err, breakpoints.ErrNoSlot) {
		t.Fatalf("Run: %v; want ErrNoSlot", err)
	}
	for _, s := range []string{"nt!" + fnPhase1, "4 of 4", "subscription 7 at", "--allow-software-breakpoints"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Run's error %q does not mention %q", err, s)
		}
	}
	if running, _ := b.tg.Running(); !running {
		t.Error("the guest is left stopped")
	}
}
