package breakpoints_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The slot policy on vmitest's fake guest with the capabilities frostd
// derives for each accelerator: this machine's KVM has no vmx/svm and
// kills a guest on a software breakpoint, so KVM's policy is tested here,
// never live.

const kbase = 0xfffff800_00100000

var (
	hardware = breakpoints.Placement{Kind: vmi.HardwareBreakpoint}
	software = breakpoints.Placement{Kind: vmi.SoftwareBreakpoint}
	visible  = breakpoints.Placement{Kind: vmi.SoftwareBreakpoint, Visible: true}
)

// policy is a manager on a fake guest with accel's capabilities; consent
// is frostd's --allow-software-breakpoints.
type policy struct {
	t   *testing.T
	tg  *vmitest.Target
	mgr *breakpoints.Manager
	ctx context.Context
	n   int // addresses handed out
}

func newPolicy(t *testing.T, accel vmi.Accelerator, consent bool) *policy {
	t.Helper()
	caps, err := vmi.CapabilitiesFor(accel, consent)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := vmitest.New(vmitest.Config{Capabilities: &caps})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := breakpoints.New(tg, breakpoints.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() {
		defer cancel()
		if err := mgr.Close(ctx); err != nil {
			t.Errorf("closing the manager: %v", err)
		}
		if armed := tg.Armed(); len(armed) != 0 {
			t.Errorf("left armed after Close: %v", armed)
		}
	})
	return &policy{t: t, tg: tg, mgr: mgr, ctx: ctx}
}

// next is a fresh kernel address.
func (p *policy) next() uint64 {
	p.n++
	return kbase + uint64(p.n)*0x40
}

// add arms a new address for owner, asking kind.
func (p *policy) add(owner string, kind breakpoints.KindChoice) (breakpoints.Armed, error) {
	return p.mgr.Add(p.ctx, breakpoints.Spec{Addr: p.next(), Owner: owner, Kind: kind})
}

// mustAdd arms a new address and checks where it went.
func (p *policy) mustAdd(owner string, kind breakpoints.KindChoice, want breakpoints.Placement) breakpoints.Armed {
	p.t.Helper()
	a, err := p.add(owner, kind)
	if err != nil {
		p.t.Fatalf("%s asking %v: %v", owner, kind, err)
	}
	if a.Placement != want {
		p.t.Fatalf("%s asking %v got %v, want %v", owner, kind, a.Placement, want)
	}
	return a
}

// stubKinds counts what the fake guest holds armed, by kind.
func (p *policy) stubKinds() (hw, sw int) {
	for _, bp := range p.tg.Armed() {
		if bp.Kind == vmi.HardwareBreakpoint {
			hw++
		} else {
			sw++
		}
	}
	return hw, sw
}

func wantMentions(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// Under KVM without the operator's consent: four debug registers, then a
// refusal that says who holds them and what to pass; an explicit software
// request is refused before anything reaches the stub.
func TestKVMWithoutConsent(t *testing.T) {
	p := newPolicy(t, vmi.AccelKVM, false)
	for i := range 4 {
		p.mustAdd(fmt.Sprintf("client%d", i), breakpoints.KindAuto, hardware)
	}
	inserts := p.tg.Count(vmitest.OpInsert)

	_, err := p.add("client4", breakpoints.KindAuto)
	var se *breakpoints.SlotError
	var in *breakpoints.HardwareInUse
	if !errors.Is(err, breakpoints.ErrNoSlot) || !errors.As(err, &se) || !errors.As(err, &in) {
		t.Fatalf("the 5th: %v; want a *SlotError carrying *HardwareInUse", err)
	}
	if se.HardwareUsed != 4 || len(in.Used) != 4 {
		t.Errorf("counted %d in use, listed %d; want 4 and 4", se.HardwareUsed, len(in.Used))
	}
	for i, u := range in.Used {
		if want := fmt.Sprintf("client%d", i); len(u.Owners) != 1 || u.Owners[0] != want || u.Addr != kbase+uint64(i+1)*0x40 {
			t.Errorf("slot %d: %+v, want %s's", i, u, want)
		}
	}
	t.Logf("refused: %v", err)
	wantMentions(t, err, "4 of 4", "client0 at", "client3 at", "--allow-software-breakpoints")

	_, err = p.add("client5", breakpoints.KindSoftware)
	var ke *breakpoints.KindError
	if !errors.Is(err, breakpoints.ErrKindRefused) || !errors.As(err, &ke) || errors.Is(err, breakpoints.ErrNoSlot) {
		t.Fatalf("an explicit software breakpoint: %v; want ErrKindRefused", err)
	}
	wantMentions(t, err, "0xCC", "--allow-software-breakpoints")
	if n := p.tg.Count(vmitest.OpInsert); n != inserts {
		t.Errorf("%d inserts reached the stub for refused breakpoints", n-inserts)
	}
	if hw, sw := p.stubKinds(); hw != 4 || sw != 0 {
		t.Errorf("stub holds %d hardware, %d software; want 4 and 0", hw, sw)
	}
}

// With the consent: an explicit software request spares the debug
// registers, automatic requests take them first and then software,
// reported visible; an explicit hardware request when they are full fails
// with who holds them, and succeeds once one is freed.
func TestKVMWithConsent(t *testing.T) {
	p := newPolicy(t, vmi.AccelKVM, true)
	p.mustAdd("patcher", breakpoints.KindSoftware, visible)
	var first breakpoints.Armed
	for i := range 4 {
		a := p.mustAdd(fmt.Sprintf("client%d", i), breakpoints.KindAuto, hardware)
		if i == 0 {
			first = a
		}
	}
	fifth := p.mustAdd("client4", breakpoints.KindAuto, visible)
	if !fifth.Visible {
		t.Error("the 5th is not reported visible to the guest")
	}
	if hw, sw := p.stubKinds(); hw != 4 || sw != 2 {
		t.Errorf("stub holds %d hardware, %d software; want 4 and 2", hw, sw)
	}

	_, err := p.add("stealthy", breakpoints.KindHardware)
	var in *breakpoints.HardwareInUse
	if !errors.Is(err, breakpoints.ErrNoSlot) || !errors.As(err, &in) {
		t.Fatalf("hardware when full: %v; want ErrNoSlot with *HardwareInUse", err)
	}
	if in.Software != "" || !in.HardwareOnly {
		t.Errorf("a hardware-only request: software %q, hardware only %v; want no software reason, hardware only", in.Software, in.HardwareOnly)
	}
	wantMentions(t, err, "4 of 4", "client0 at", "client3 at", "ask for any kind")
	if hw, sw := p.stubKinds(); hw != 4 || sw != 2 {
		t.Errorf("after the refusal the stub holds %d hardware, %d software; want 4 and 2", hw, sw)
	}

	if err := p.mgr.Remove(p.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	p.mustAdd("stealthy", breakpoints.KindHardware, hardware)

	list, err := p.mgr.List(p.ctx)
	if err != nil {
		t.Fatal(err)
	}
	vis := 0
	for _, a := range list {
		if a.Visible {
			vis++
		}
	}
	if len(list) != 6 || vis != 2 {
		t.Errorf("List: %d breakpoints, %d visible; want 6 and 2", len(list), vis)
	}
}

// An explicit kind is a promise about what the guest sees, so it is not
// met by a slot of the other kind at the same address; auto shares any.
func TestKindAtArmedAddress(t *testing.T) {
	p := newPolicy(t, vmi.AccelKVM, true)
	a := p.mustAdd("winboot:NtCreatePagingFile", breakpoints.KindAuto, hardware)
	_, err := p.mgr.Add(p.ctx, breakpoints.Spec{Addr: a.Addr, Owner: "client", Kind: breakpoints.KindSoftware})
	if !errors.Is(err, breakpoints.ErrKindRefused) {
		t.Fatalf("software at a hardware slot: %v; want ErrKindRefused", err)
	}
	wantMentions(t, err, "winboot:NtCreatePagingFile", "auto")
	for _, k := range []breakpoints.KindChoice{breakpoints.KindAuto, breakpoints.KindHardware} {
		s, err := p.mgr.Add(p.ctx, breakpoints.Spec{Addr: a.Addr, Owner: "client", Kind: k})
		if err != nil || !s.Shared || s.Placement != hardware {
			t.Errorf("%v at the hardware slot: %+v, %v; want it shared", k, s, err)
		}
	}
	sw := p.mustAdd("client", breakpoints.KindSoftware, visible)
	if _, err := p.mgr.Add(p.ctx, breakpoints.Spec{Addr: sw.Addr, Kind: breakpoints.KindHardware}); !errors.Is(err, breakpoints.ErrKindRefused) {
		t.Errorf("hardware at a software slot: %v; want ErrKindRefused", err)
	}
}

// KVM without vmx/svm (kvm_pvm, this machine) refuses software even with
// the consent: the guest would die; it says so instead of naming the flag.
func TestKVMNoVirtRefusesSoftware(t *testing.T) {
	p := newPolicy(t, vmi.AccelKVMNoVirt, true)
	_, err := p.add("client", breakpoints.KindSoftware)
	if !errors.Is(err, breakpoints.ErrKindRefused) {
		t.Fatalf("software on kvm_pvm: %v; want ErrKindRefused", err)
	}
	wantMentions(t, err, "vmx/svm", "dies")
	for i := range 4 {
		p.mustAdd(fmt.Sprintf("client%d", i), breakpoints.KindAuto, hardware)
	}
	_, err = p.add("client4", breakpoints.KindAuto)
	if !errors.Is(err, breakpoints.ErrNoSlot) {
		t.Fatalf("the 5th: %v; want ErrNoSlot", err)
	}
	wantMentions(t, err, "vmx/svm")
	if p.tg.Count(vmitest.OpInsert) != 4 {
		t.Errorf("%d inserts, want 4: nothing else may reach the stub", p.tg.Count(vmitest.OpInsert))
	}
}

// TCG is unchanged: automatic breakpoints are software, invisible and
// unlimited; an explicit kind is honoured, and both are invisible.
func TestTCGKinds(t *testing.T) {
	p := newPolicy(t, vmi.AccelTCG, false)
	for i := range 16 {
		a := p.mustAdd(fmt.Sprintf("client%d", i), breakpoints.KindAuto, software)
		if a.Visible {
			t.Fatal("a TCG breakpoint reported visible")
		}
	}
	for i := range 6 {
		p.mustAdd(fmt.Sprintf("hw%d", i), breakpoints.KindHardware, hardware)
	}
	p.mustAdd("sw", breakpoints.KindSoftware, software)
	if hw, sw := p.stubKinds(); hw != 6 || sw != 17 {
		t.Errorf("stub holds %d hardware, %d software; want 6 and 17", hw, sw)
	}
}

func TestUnknownKindRefused(t *testing.T) {
	p := newPolicy(t, vmi.AccelKVM, true)
	if _, err := p.add("client", breakpoints.KindChoice(9)); err == nil || !strings.Contains(err.Error(), "unknown breakpoint kind") {
		t.Errorf("kind 9: %v; want an unknown-kind error", err)
	}
	if n := p.tg.Count(vmitest.OpInsert); n != 0 {
		t.Errorf("%d inserts for an invalid spec", n)
	}
}
