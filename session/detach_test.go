package session

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// stuckClose is a guest whose detach fails until told otherwise, as a
// gdbstub that stops answering mid-detach does.
type stuckClose struct {
	vmi.Target
	fail    bool
	onClose func()
}

func (s *stuckClose) Close(ctx context.Context) error {
	if s.onClose != nil {
		s.onClose()
	}
	if s.fail {
		return errors.New("the stub did not answer D;1")
	}
	return s.Target.Close(ctx)
}

// fakeRecorder records holds as the state file does: begun until ended.
type fakeRecorder struct{ open map[Hold]int }

func (f *fakeRecorder) Begin(h Hold) (func(), error) {
	f.open[h]++
	done := false
	return func() {
		if !done {
			done = true
			f.open[h]--
		}
	}, nil
}

// A VM stays recorded until it is let go. A detach that fails forgets the
// session (so a new Attach can take the domain over) but keeps the VM
// recorded, for the guard and a successor frostd; the detach that
// succeeds ends that record. Detach used to forget it first and record
// nothing, so a failure or a crash mid-detach left a guest nobody would
// let go.
func TestDetachForgetsOnlyOnceLetGo(t *testing.T) {
	ctx := ctxT(t)
	tg, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	target := &stuckClose{Target: tg, fail: true}
	var recorded [][]string
	r := NewRegistry(nil, func(names []string) { recorded = append(recorded, names) })
	rec := &fakeRecorder{open: map[Hold]int{}}
	r.UseRecorder(rec)
	s, err := New(quiet, "vm1", "", target)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(s); err != nil {
		t.Fatal(err)
	}
	// While Close runs the VM is still the registry's (recorded).
	target.onClose = func() {
		if names := r.Names(); !slices.Equal(names, []string{"vm1"}) {
			t.Errorf("while detaching the registry holds %v, want [vm1]", names)
		}
	}
	got, err := r.Detach(ctx, "vm1")
	if err == nil || got != s {
		t.Fatalf("Detach with a failing close = %v, %v; want the session and an error", got, err)
	}
	if names := r.Names(); len(names) != 0 {
		t.Fatalf("after a failed detach the registry holds %v; a new Attach could not take the domain over", names)
	}
	attached := Hold{VM: "vm1", Kind: HoldAttached}
	if rec.open[attached] != 1 {
		t.Fatalf("after a failed detach the record holds %v, want vm1 kept as attached", rec.open)
	}

	// A new attach takes the domain over; its detach succeeds and ends
	// the record the failed one kept.
	tg2, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(quiet, "vm1", "", tg2)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(s2); err != nil {
		t.Fatalf("attaching again after a failed detach: %v", err)
	}
	if got, err := r.Detach(ctx, "vm1"); err != nil || got != s2 {
		t.Fatalf("second Detach = %v, %v", got, err)
	}
	if rec.open[attached] != 0 {
		t.Fatalf("after a successful detach the record still holds %v", rec.open)
	}
	if last := recorded[len(recorded)-1]; len(last) != 0 {
		t.Fatalf("after the detach the registry's record says %v", last)
	}
	if got, err := r.Detach(ctx, "vm1"); got != nil || err != nil {
		t.Fatalf("detaching a VM no longer attached = %v, %v; want nil, nil", got, err)
	}
}

// forget removes only the session it was given: an Attach that replaced a
// gone session under the same name keeps its new one.
func TestForgetKeepsAReplacement(t *testing.T) {
	old, _ := fakeSession(t, vmitest.Config{})
	repl, _ := fakeSession(t, vmitest.Config{})
	r := NewRegistry(nil, nil)
	if err := r.Add(repl); err != nil {
		t.Fatal(err)
	}
	r.forget(old)
	if r.Lookup(repl.Name) != repl {
		t.Fatal("forgetting an old session removed its replacement")
	}
}
