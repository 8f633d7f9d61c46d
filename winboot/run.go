package winboot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// errReset ends one boot's work: the guest reset, and the next boot starts
// over.
var errReset = errors.New("winboot: the guest reset")

// Run configures the boot of the guest that mgr manages (tgt is its
// target, used for physical reads and writes). The guest should be held
// before its first instruction. Run returns once csrss.exe exists and every
// breakpoint is removed, with the report of the last boot; on an error the
// report says how far it got. Whatever happens, the guest is left running.
func Run(ctx context.Context, tgt vmi.Target, mgr *breakpoints.Manager, opt Options) (*Report, error) {
	if tgt == nil || mgr == nil {
		return nil, errors.New("winboot: Run needs a target and its breakpoint manager")
	}
	if opt.Symbols == nil {
		return nil, errors.New("winboot: Run needs a symbol loader for ntoskrnl")
	}
	opt = opt.withDefaults()
	sub := mgr.Subscribe(breakpoints.SubscribeOptions{
		Queue: 16,
		Kinds: []breakpoints.EventKind{breakpoints.EventReset, breakpoints.EventShutdown, breakpoints.EventGone},
	})
	defer sub.Close()
	n, resets := 1, 0
	for {
		b := &boot{tgt: tgt, mgr: mgr, opt: opt, sub: sub, n: n, began: time.Now(), rep: &Report{Boots: n, Resets: resets}, observers: map[string]breakpoints.ID{}}
		err := b.run(ctx)
		if !errors.Is(err, errReset) {
			return b.report(), err
		}
		resets++
		// QEMU may report one guest reset more than once (a reset loop
		// in the guest requests it again before the vCPU restarts): a
		// boot counts once its kernel was seen.
		if b.k != nil {
			n++
		}
		b.step("reset", "%v; starting over on the next boot", err)
	}
}

// boot is winboot's work on one boot of the guest.
type boot struct {
	tgt   vmi.Target
	mgr   *breakpoints.Manager
	opt   Options
	sub   *breakpoints.Subscription
	n     int
	began time.Time

	k       *nt.Opened
	tr      *translate.Translator // uncached: reads while the guest runs
	winpePA uint64                // InitWinPEModeType's physical address

	mu        sync.Mutex
	rep       *Report
	observers map[string]breakpoints.ID // by function, while armed
}

func (b *boot) run(ctx context.Context) error {
	if err := b.find(ctx); err != nil {
		return err
	}
	// The guest is stopped by the find: arm, then let it go whatever
	// happened.
	err := b.configure(ctx)
	if rerr := b.resume(ctx); err == nil {
		err = rerr
	}
	if err != nil {
		b.removeAll(ctx)
		return err
	}
	return b.watch(ctx)
}

// report returns a copy of the report as it stands.
func (b *boot) report() *Report {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := *b.rep
	r.Breakpoints = append([]BreakpointUse(nil), b.rep.Breakpoints...)
	r.PagingFilesRefused = append([]string(nil), b.rep.PagingFilesRefused...)
	r.Missed = append([]string(nil), b.rep.Missed...)
	r.Problems = append([]string(nil), b.rep.Problems...)
	return &r
}

func (b *boot) step(stage, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.opt.Logger.Info("winboot: "+msg, "boot", b.n, "stage", stage)
	if b.opt.Progress != nil {
		b.opt.Progress(Step{Time: time.Now(), Boot: b.n, Stage: stage, Message: msg})
	}
}

func (b *boot) resume(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := b.mgr.Resume(ctx); err != nil {
		return fmt.Errorf("winboot: resuming the guest: %w", err)
	}
	return nil
}

// lifecycle checks, without waiting, whether the guest reset or went away.
func (b *boot) lifecycle() error {
	select {
	case e, ok := <-b.sub.Events():
		return lifecycleErr(e, ok)
	default:
		return nil
	}
}

func lifecycleErr(e breakpoints.Event, ok bool) error {
	switch {
	case !ok:
		return errors.New("winboot: the breakpoint manager closed")
	case e.Kind == breakpoints.EventReset:
		return fmt.Errorf("%w (%s)", errReset, e.Reason)
	case e.Kind == breakpoints.EventShutdown:
		return errors.New("winboot: the guest shut down during boot")
	case e.Kind == breakpoints.EventGone:
		return fmt.Errorf("winboot: the guest is gone: %v", e.Err)
	}
	return nil
}

// sleep waits d, or returns early on a lifecycle event or ctx's end.
func (b *boot) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case e, ok := <-b.sub.Events():
		if err := lifecycleErr(e, ok); err != nil {
			return err
		}
		return nil
	case <-t.C:
		return nil
	}
}
