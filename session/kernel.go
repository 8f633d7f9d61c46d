package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// ErrNoKernelYet: no Windows kernel is known in the guest: none was
// found, or none was looked for yet. Hits then carry no thread.
var ErrNoKernelYet = errors.New("no Windows kernel is known in this guest (none found, or none looked for yet)")

// kernelRetry is how long a search that found no Windows kernel early in
// a boot is remembered: the guest may still be on its way to one, but a
// call a second must not stop it every second. A search in a guest
// already running 64-bit code with paging is remembered until a reset or
// RetryKernel instead.
const kernelRetry = 10 * time.Second

// Kernel returns the VM's Windows kernel, finding it if need be. Finding
// it needs a stopped vCPU's registers, so a running guest is held still
// for that moment and then left as it was.
func (s *Session) Kernel(ctx context.Context) (*nt.Opened, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.opened != nil {
		return s.k.opened, nil
	}
	if err := s.missedLocked(); err != nil {
		return nil, err
	}
	return s.findLocked(ctx)
}

// RetryKernel searches for the Windows kernel now, whatever an earlier
// search found: a client that knows the guest has booted since.
func (s *Session) RetryKernel(ctx context.Context) (*nt.Opened, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.opened != nil {
		return s.k.opened, nil
	}
	s.k.missedErr = nil
	return s.findLocked(ctx)
}

// missedLocked is the remembered miss, while it stands.
func (s *Session) missedLocked() error {
	if s.k.missedErr == nil {
		return nil
	}
	ago := time.Since(s.k.missed).Round(time.Second)
	if s.k.missedSettled {
		return fmt.Errorf("%w (searched %v ago in 64-bit code; not searched again until the guest resets or a client asks: frostctl state --find-kernel)", s.k.missedErr, ago)
	}
	if time.Since(s.k.missed) < kernelRetry {
		return fmt.Errorf("%w (searched %v ago, before the guest ran 64-bit code; searching again after %v)", s.k.missedErr, ago, kernelRetry)
	}
	return nil
}

func (s *Session) findLocked(ctx context.Context) (*nt.Opened, error) {
	k, settled, err := s.openKernel(ctx)
	if errors.Is(err, nt.ErrKernelNotFound) {
		s.k.missed, s.k.missedErr, s.k.missedSettled = time.Now(), err, settled
		s.Log().Info("no Windows kernel found", "error", err, "until_reset", settled)
	}
	if err != nil {
		return nil, err
	}
	s.k.missedErr = nil
	// The translator starts in the run state the manager last told;
	// every later change reaches it through runState.
	if s.k.running.Load() {
		k.Translator.Resumed()
	} else {
		k.Translator.Stopped()
	}
	s.k.opened = k
	s.setFound(k)
	return k, nil
}

// KernelSearch is the outcome of the last search for a Windows kernel
// while none is known.
type KernelSearch struct {
	Searched   bool
	Err        error // what was not found
	At         time.Time
	UntilReset bool      // stands until a reset or RetryKernel
	RetryAfter time.Time // otherwise: when a call searches again
}

// LastKernelSearch reports the remembered miss; the zero KernelSearch
// when none stands (no search yet, or a kernel was found).
func (s *Session) LastKernelSearch() KernelSearch {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.missedErr == nil {
		return KernelSearch{}
	}
	ks := KernelSearch{Searched: true, Err: s.k.missedErr, At: s.k.missed, UntilReset: s.k.missedSettled}
	if !ks.UntilReset {
		ks.RetryAfter = s.k.missed.Add(kernelRetry)
	}
	return ks
}

// FoundKernel is the kernel if it has been found, without finding it.
func (s *Session) FoundKernel() *nt.Opened { return s.k.found.Load() }

// openKernel finds and opens the kernel. settled says the stop it looked
// from was in 64-bit mode with paging and held kernel-half addresses to
// scan from: a kernel that is not found there will not appear without a
// reset.
func (s *Session) openKernel(ctx context.Context) (k *nt.Opened, settled bool, err error) {
	if s.cfg == nil || s.cfg.Symbols == nil {
		return nil, false, ErrNoSymbols
	}
	running, stop := s.Target.Running()
	if running || stop == nil || stop.Registers == nil {
		h, err := s.Hold(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("pausing to find the kernel: %w", err)
		}
		defer func() {
			if err := h.Release(context.WithoutCancel(ctx)); err != nil {
				s.Log().Error("letting the guest go after finding the kernel", "error", err)
			}
		}()
		stop = h.Stop
	}
	if stop == nil || stop.Registers == nil {
		why := errors.New("the stop names no vCPU")
		if stop != nil && stop.RegistersErr != nil {
			why = stop.RegistersErr
		}
		return nil, false, fmt.Errorf("reading registers to find the kernel: %w", why)
	}
	settled = longModePaging(stop.Registers)
	s.notePaging(stop.Registers)
	// nt tries every kernel address the stop holds (a kernel RIP, RSP, the
	// KPCR in a GS base), so a vCPU stopped in user mode does too.
	cfg := nt.Config{Physical: vmi.ReaderAt(s.Target), Registers: stop.Registers, Symbols: s.cfg.Symbols}
	k, err = nt.Open(ctx, cfg)
	if errors.Is(err, nt.ErrNoKernelAddress) {
		// A 64-bit loader (winload) runs in the low half: nothing was
		// looked at, so nothing is settled.
		settled = false
	}
	if err != nil {
		return nil, settled, err
	}
	if err := s.supplyFiles(k); err != nil {
		s.Log().Warn("the VM's paging and mapped files could not be used", "error", err)
	}
	return k, settled, nil
}

// longModePaging says the vCPU runs with long mode active (EFER.LMA) and
// paging on (CR0.PG): an OS kernel, or a 64-bit loader, is in charge.
// Architectural bits, the same for every OS.
func longModePaging(regs *vmi.Registers) bool {
	const eferLMA, cr0PG = 1 << 10, 1 << 31
	efer, err1 := regs.Uint("efer")
	cr0, err2 := regs.Uint("cr0")
	return err1 == nil && err2 == nil && efer&eferLMA != 0 && cr0&cr0PG != 0
}

// runState is the manager's RunState hook: coherence is an event. The
// guest is about to run (or runs, resumed from outside): what the
// translator cached is stale and reads bypass its cache; it stopped:
// translations are cached again, for this stop only.
func (s *Session) runState(running bool) {
	s.k.running.Store(running)
	if running {
		s.k.hw.Resumed()
	} else {
		s.k.hw.Stopped()
	}
	k := s.k.found.Load()
	if k == nil || k.Translator == nil {
		return
	}
	if running {
		k.Translator.Resumed()
	} else {
		k.Translator.Stopped()
	}
}

// Written tells the session that guest memory changed under a stopped
// guest (a write through Frost): nothing cached may be trusted.
func (s *Session) Written() {
	for _, tr := range []*translate.Translator{s.k.hw, s.foundTranslator()} {
		if tr == nil {
			continue
		}
		tr.Resumed()
		if !s.k.running.Load() {
			tr.Stopped()
		}
	}
}

func (s *Session) foundTranslator() *translate.Translator {
	if k := s.k.found.Load(); k != nil {
		return k.Translator
	}
	return nil
}

// reset is the manager's Reset hook: the old boot's kernel is gone; the
// next use finds the new one.
func (s *Session) reset() {
	s.setFound(nil)
	s.k.paging.Store(pagingUnknown)
	// Kernel may hold mu while it waits on the manager, whose loop runs
	// this hook: never block on mu here.
	go func() {
		s.k.mu.Lock()
		defer s.k.mu.Unlock()
		if s.k.found.Load() == nil {
			s.k.opened = nil
		}
		s.k.missedErr = nil
	}()
	s.Log().Info("guest reset: its kernel will be found again")
}

// lateThreads names the thread at a hit through the kernel once found.
// The manager is made at attach, before any kernel exists (a Boot finds
// it later, a non-Windows guest never has one).
type lateThreads struct{ s *Session }

func (l lateThreads) CurrentThread(ctx context.Context, h *breakpoints.Hit) (uint64, error) {
	k := l.s.k.found.Load()
	if k == nil {
		return 0, ErrNoKernelYet
	}
	return monitor.Threads(k.Kernel).CurrentThread(ctx, h)
}

// translatePhysical gives the manager a VA → PA resolution for its
// frames: through the kernel's translator once found, the processor's
// walk until then (the same answer for every page in RAM).
func (s *Session) translatePhysical(ctx context.Context, cr3, va uint64) (uint64, error) {
	tr := s.foundTranslator()
	if tr == nil {
		tr = s.k.hw
	}
	loc, err := tr.Translate(cr3, va)
	if err != nil {
		return 0, err
	}
	if loc.State != translate.StateValid && loc.State != translate.StateTransition {
		return 0, &translate.ReadError{What: "page", Err: ErrNotInRAM}
	}
	return loc.Addr, nil
}

// ErrNotInRAM: a page translates somewhere other than guest RAM (a paging
// file, a file, demand-zero), which a frame read or a write cannot reach.
var ErrNotInRAM = errors.New("the page is not in RAM")

// UseKernel gives the session a kernel found another way (a test's laid
// out memory, a kernel handed over), in place of finding one.
func (s *Session) UseKernel(k *nt.Opened) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	s.k.opened = k
	s.setFound(k)
}

// Translator is the translator for an address space a DTB names: the
// Windows kernel's when there is one (searching if none was looked for
// yet), otherwise the processor's walk (translate.ModelX86), which any
// x86-64 guest answers: no Windows kernel, or no symbols for it. Errors
// are the target's.
func (s *Session) Translator(ctx context.Context) (*translate.Translator, error) {
	k, err := s.Kernel(ctx)
	if err == nil {
		return k.Translator, nil
	}
	for _, none := range []error{nt.ErrKernelNotFound, ErrNoSymbols, store.ErrNotFound, store.ErrOffline, store.ErrUnreachable, store.ErrMismatch} {
		if errors.Is(err, none) {
			return s.hardware()
		}
	}
	return nil, err
}

// ErrFiveLevelPaging: the guest runs with 5-level paging (CR4.LA57),
// which the processor's walk here does not read: its answers would be
// wrong, so none is given.
var ErrFiveLevelPaging = errors.New("the guest uses 5-level paging (CR4.LA57), which Frost's x86-64 page walk does not read yet (it walks 4 levels): refusing rather than translating wrongly")

// hardware is the processor's walk, unless a stop of this boot showed
// 5-level paging. A guest never seen stopped is taken at its word of 4
// levels (no stop, no CR4): what Windows and most kernels use.
func (s *Session) hardware() (*translate.Translator, error) {
	if s.k.paging.Load() == pagingUnknown {
		if running, stop := s.Target.Running(); !running && stop != nil && stop.Registers != nil {
			s.notePaging(stop.Registers)
		}
	}
	if s.k.paging.Load() == paging5 {
		return nil, ErrFiveLevelPaging
	}
	return s.k.hw, nil
}

const (
	pagingUnknown = iota
	paging4
	paging5
)

// notePaging records CR4.LA57 from a stop's registers (bit 12:
// architecture, Intel SDM vol. 3, 2.5).
func (s *Session) notePaging(regs *vmi.Registers) {
	const cr4LA57 = 1 << 12
	cr4, err := regs.Uint("cr4")
	if err != nil {
		return
	}
	if cr4&cr4LA57 != 0 {
		s.k.paging.Store(paging5)
	} else if longModePaging(regs) {
		s.k.paging.Store(paging4)
	}
}
