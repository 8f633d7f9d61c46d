package breakpoints

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// resumerTarget is the fake target with StepOverResume: a step-over and a
// resume in one call, which refuses to resume when unclean is set.
type resumerTarget struct {
	*fakeTarget
	calls   atomic.Int64
	unclean atomic.Bool
}

func (r *resumerTarget) StepOverResume(ctx context.Context, cpu vmi.CPU, at ...vmi.Breakpoint) (*vmi.Stop, bool, error) {
	r.calls.Add(1)
	stop, err := r.StepOver(ctx, cpu, at...)
	if err != nil || r.unclean.Load() {
		return stop, false, err
	}
	return stop, true, r.Resume(ctx)
}

// TestStepOverResumeUsed: with a target that offers StepOverResume, a hit
// is stepped over and resumed through it (one call, no separate Resume
// from the manager), and the handler still runs; when the target does not
// resume after the step, the manager does.
func TestStepOverResumeUsed(t *testing.T) {
	rt := &resumerTarget{fakeTarget: newFake(t, tcgCaps())}
	m, err := New(rt, Options{Logger: newManagerLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	ctx := testCtx(t)
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	resumes0, steps0 := rt.counts()
	rt.settle(rt.hit(cpu1, map[string]uint64{"rip": kfn}))
	resumes, steps := rt.counts()
	if rt.calls.Load() != 1 || steps-steps0 != 1 || resumes-resumes0 != 1 || c.n.Load() != 1 {
		t.Fatalf("StepOverResume calls %d, steps %d, resumes %d, handler runs %d; want 1 each",
			rt.calls.Load(), steps-steps0, resumes-resumes0, c.n.Load())
	}
	rt.unclean.Store(true)
	rt.settle(rt.hit(cpu1, map[string]uint64{"rip": kfn}))
	if resumes2, _ := rt.counts(); rt.calls.Load() != 2 || resumes2-resumes != 1 {
		t.Errorf("unclean step: StepOverResume calls %d, resumes %d; want 2 calls and the manager's own resume", rt.calls.Load(), resumes2-resumes)
	}
}
