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
	fail bool
}

func (s *stuckClose) Close(ctx context.Context) error {
	if s.fail {
		return errors.New("the stub did not answer D;1")
	}
	return s.Target.Close(ctx)
}

// A VM stays recorded until it is let go: a detach that fails leaves it in
// the registry (and so in the state file and with the guard), and the one
// that succeeds forgets it. Detach used to forget it first, so a crash or
// a failure mid-detach left a guest nobody would let go.
func TestDetachForgetsOnlyOnceLetGo(t *testing.T) {
	ctx := ctxT(t)
	tg, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	target := &stuckClose{Target: tg, fail: true}
	var recorded [][]string
	r := NewRegistry(nil, func(names []string) { recorded = append(recorded, names) })
	s, err := New(quiet, "vm1", "", target)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(s); err != nil {
		t.Fatal(err)
	}
	got, err := r.Detach(ctx, "vm1")
	if err == nil || got != s {
		t.Fatalf("Detach with a failing close = %v, %v; want the session and an error", got, err)
	}
	if names := r.Names(); !slices.Equal(names, []string{"vm1"}) {
		t.Fatalf("after a failed detach the registry holds %v, want [vm1]", names)
	}
	if last := recorded[len(recorded)-1]; !slices.Equal(last, []string{"vm1"}) {
		t.Fatalf("after a failed detach the record says %v, want [vm1]", last)
	}

	target.fail = false
	if got, err := r.Detach(ctx, "vm1"); err != nil || got != s {
		t.Fatalf("second Detach = %v, %v", got, err)
	}
	if names := r.Names(); len(names) != 0 {
		t.Fatalf("after the detach the registry holds %v", names)
	}
	if last := recorded[len(recorded)-1]; len(last) != 0 {
		t.Fatalf("after the detach the record says %v", last)
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
