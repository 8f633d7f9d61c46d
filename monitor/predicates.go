package monitor

import (
	"context"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
)

// breakpoints defines the predicates it filters hits with, and nt knows
// how to answer them; neither imports the other, so the adapters live
// here, above both. The API uses them for its clients' breakpoints too.

// ProcessFilter accepts hits whose current process (the thread's owner)
// matches f.
func ProcessFilter(k *nt.Kernel, f Filter) breakpoints.ProcessPredicate {
	return processFilter{k, f}
}

type processFilter struct {
	k *nt.Kernel
	f Filter
}

func (p processFilter) MatchProcess(ctx context.Context, h *breakpoints.Hit) (bool, error) {
	cur, err := p.k.Current(h.Regs)
	if err != nil {
		return false, err
	}
	return p.f.match(cur.Process.PID, cur.Process.Name), nil
}

// ThreadFilter accepts hits on the threads with these TIDs.
func ThreadFilter(k *nt.Kernel, tids ...uint64) breakpoints.ThreadPredicate {
	return threadFilter{k, tids}
}

type threadFilter struct {
	k    *nt.Kernel
	tids []uint64
}

func (t threadFilter) MatchThread(ctx context.Context, h *breakpoints.Hit) (bool, error) {
	cur, err := t.k.Current(h.Regs)
	if err != nil {
		return false, err
	}
	for _, tid := range t.tids {
		if cur.Thread.TID == tid {
			return true, nil
		}
	}
	return false, nil
}

// Threads names the guest thread at a hit by its ETHREAD address, for the
// manager's break-on-return and re-hit suppression: the manager only
// compares thread identities, so any stable per-thread address serves.
func Threads(k *nt.Kernel) breakpoints.ThreadResolver { return threads{k} }

type threads struct{ k *nt.Kernel }

func (t threads) CurrentThread(ctx context.Context, h *breakpoints.Hit) (uint64, error) {
	cur, err := t.k.Current(h.Regs)
	if err != nil {
		return 0, err
	}
	return cur.Thread.ETHREAD, nil
}
