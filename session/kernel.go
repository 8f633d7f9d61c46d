package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/monitor"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// ErrNoKernelYet: the guest's Windows kernel has not been found (yet).
var ErrNoKernelYet = errors.New("the guest's kernel has not been found yet")

// kernelRetry is how long a search that found no Windows kernel is
// remembered: the guest may still be booting, but a call a second must
// not stop a guest that is not Windows every second. A reset forgets it.
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
	if s.k.missedErr != nil && time.Since(s.k.missed) < kernelRetry {
		return nil, fmt.Errorf("%w (looked %v ago; looking again after %v)", s.k.missedErr, time.Since(s.k.missed).Round(time.Second), kernelRetry)
	}
	k, err := s.openKernel(ctx)
	if errors.Is(err, nt.ErrKernelNotFound) {
		s.k.missed, s.k.missedErr = time.Now(), err
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
	s.k.found.Store(k)
	return k, nil
}

// FoundKernel is the kernel if it has been found, without finding it.
func (s *Session) FoundKernel() *nt.Opened { return s.k.found.Load() }

func (s *Session) openKernel(ctx context.Context) (*nt.Opened, error) {
	if s.cfg == nil || s.cfg.Symbols == nil {
		return nil, ErrNoSymbols
	}
	running, stop := s.Target.Running()
	if running || stop == nil || stop.Registers == nil {
		h, err := s.Hold(ctx)
		if err != nil {
			return nil, fmt.Errorf("pausing to find the kernel: %w", err)
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
		return nil, fmt.Errorf("reading registers to find the kernel: %w", why)
	}
	// nt tries every kernel address the stop holds (a kernel RIP, RSP, the
	// KPCR in a GS base), so a vCPU stopped in user mode does too.
	cfg := nt.Config{Physical: vmi.ReaderAt(s.Target), Registers: stop.Registers, Symbols: s.cfg.Symbols}
	k, err := nt.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.supplyFiles(k); err != nil {
		s.Log().Warn("the VM's paging and mapped files could not be used", "error", err)
	}
	return k, nil
}

// runState is the manager's RunState hook: coherence is an event. The
// guest is about to run (or runs, resumed from outside): what the
// translator cached is stale and reads bypass its cache; it stopped:
// translations are cached again, for this stop only.
func (s *Session) runState(running bool) {
	s.k.running.Store(running)
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
	if k := s.k.found.Load(); k != nil && k.Translator != nil {
		k.Translator.Resumed()
		if !s.k.running.Load() {
			k.Translator.Stopped()
		}
	}
}

// reset is the manager's Reset hook: the old boot's kernel is gone; the
// next use finds the new one.
func (s *Session) reset() {
	s.k.found.Store(nil)
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
// frames through the kernel's translator once found.
func (s *Session) translatePhysical(ctx context.Context, cr3, va uint64) (uint64, error) {
	k := s.k.found.Load()
	if k == nil {
		return 0, ErrNoKernelYet
	}
	loc, err := k.Translator.Translate(cr3, va)
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
	s.k.found.Store(k)
}
