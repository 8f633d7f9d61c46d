package winboot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
)

// watch lets the guest run, reading its process list until csrss.exe
// exists: from then on smss creates no paging file, and winboot's work on
// this boot is done.
func (b *boot) watch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.opt.FinishTimeout)
	defer cancel()
	for {
		if b.finished() {
			b.removeAll(ctx)
			b.mu.Lock()
			b.rep.Done = true
			b.mu.Unlock()
			b.step("done", "every breakpoint removed")
			return nil
		}
		if err := b.sleep(ctx, b.opt.WatchInterval); err != nil {
			if errors.Is(err, errReset) {
				return err
			}
			b.removeAll(context.WithoutCancel(ctx))
			if ctx.Err() != nil {
				return fmt.Errorf("winboot: csrss.exe did not start within %v: %w", b.opt.FinishTimeout, ctx.Err())
			}
			return err
		}
		if !b.csrssSeen() {
			b.lookForCsrss(ctx)
		}
	}
}

func (b *boot) csrssSeen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rep.CsrssSeen
}

// finished: csrss.exe exists, and Phase1InitializationDiscard's return
// was checked (or was already past when winboot came, or its handler
// failed and the check will never come).
func (b *boot) finished() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, returnPending := b.observers[fnPhase1+":return"]
	_, entryPending := b.observers[fnPhase1]
	phase1Done := b.rep.Phase1Returned || (!entryPending && !returnPending)
	return b.rep.CsrssSeen && phase1Done
}

// lookForCsrss reads the process list of the running guest. A list caught
// mid-update is just read again at the next tick.
func (b *boot) lookForCsrss(ctx context.Context) {
	p, err := b.k.ProcessByName(procCsrss)
	if err != nil {
		if !errors.Is(err, nt.ErrNoProcess) {
			b.opt.Logger.Debug("winboot: reading the process list", "err", err)
		}
		return
	}
	b.mu.Lock()
	b.rep.CsrssSeen = true
	id, armed := b.observers[fnPagingFile]
	delete(b.observers, fnPagingFile)
	b.mu.Unlock()
	b.step("csrss", "csrss.exe runs (pid %d): the paging-file window is closed", p.PID)
	if armed {
		b.remove(ctx, fnPagingFile, id)
	}
}

// removeAll removes every observer winboot still has.
func (b *boot) removeAll(ctx context.Context) {
	b.mu.Lock()
	obs := b.observers
	b.observers = map[string]breakpoints.ID{}
	b.mu.Unlock()
	for name, id := range obs {
		b.remove(ctx, name, id)
	}
}

func (b *boot) remove(ctx context.Context, name string, id breakpoints.ID) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := b.mgr.Remove(ctx, id); err != nil && !errors.Is(err, breakpoints.ErrUnknown) {
		b.opt.Logger.Error("winboot: removing a breakpoint", "function", name, "err", err)
	}
}
