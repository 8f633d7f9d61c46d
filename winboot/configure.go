package winboot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// The kernel functions, globals and processes winboot acts on.
const (
	fnPhase1     = "Phase1InitializationDiscard"
	fnPagingFile = "NtCreatePagingFile"
	varWinPEMode = "InitWinPEModeType"
	procSmss     = "smss.exe"
	procCsrss    = "csrss.exe"
)

// configure runs with the guest stopped right after the kernel was found:
// it sees what is already too late, sets the WinPE bit and arms the
// breakpoints.
func (b *boot) configure(ctx context.Context) error {
	// The csrss watch reads while the guest runs: no translation may be
	// served from a cache filled at an earlier stop.
	tr, err := b.k.NewTranslator(nt.TranslatorOptions{Physical: vmi.ReaderAt(b.tgt), TLBEntries: -1})
	if err != nil {
		return fmt.Errorf("winboot: %w", err)
	}
	b.tr = tr
	b.k.SetMemory(nt.TranslatorMemory{T: tr})

	phase1Ran, smssRuns, err := b.late()
	if err != nil {
		return err
	}
	before, err := b.setWinPE(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.rep.WinPEBefore = before
	if phase1Ran {
		b.rep.WinPEAfter = before | WinPEInRAM
	}
	b.mu.Unlock()
	b.step("winpe", "InitWinPEModeType %#08x -> %#08x", before, before|WinPEInRAM)
	if !phase1Ran {
		if err := b.arm(ctx, fnPhase1, true, b.onPhase1); err != nil {
			return err
		}
	}
	if !smssRuns {
		if err := b.arm(ctx, fnPagingFile, false, b.onCreatePagingFile); err != nil {
			return err
		}
	}
	return nil
}

// late finds what already happened before winboot could act, and reports
// it exactly.
func (b *boot) late() (phase1Ran, smssRuns bool, err error) {
	va, err := b.k.Address(fnPhase1)
	if err != nil {
		return false, false, fmt.Errorf("winboot: %w", err)
	}
	if loc, err := b.tr.Translate(b.k.DTB(), va); err != nil || (loc.State != translate.StateValid && loc.State != translate.StateTransition) {
		// Phase1InitializationDiscard lives in INIT, which the kernel
		// frees once phase 1 is over.
		phase1Ran = true
		b.missed("Phase1InitializationDiscard already ran (its INIT code at %#x is discarded): the LoadOptions parse and the checks of InitWinPEModeType during phase 1 happened without the WinPE-in-RAM bit", va)
	}
	smss, err := b.k.ProcessByName(procSmss)
	switch {
	case err == nil:
		smssRuns, phase1Ran = true, true
		names := "none"
		if pfs, err := b.k.PagingFiles(); err == nil && len(pfs) > 0 {
			names = ""
			for i, pf := range pfs {
				if i > 0 {
					names += ", "
				}
				names += pf.Name
			}
		}
		b.missed("smss.exe already runs (pid %d): NtCreatePagingFile was not intercepted; paging files registered: %s", smss.PID, names)
	case errors.Is(err, nt.ErrNoProcess):
	default:
		b.opt.Logger.Warn("winboot: listing processes at the find", "err", err)
	}
	return phase1Ran, smssRuns, nil
}

func (b *boot) missed(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.mu.Lock()
	b.rep.Late = true
	b.rep.Missed = append(b.rep.Missed, msg)
	b.mu.Unlock()
	b.step("late", "%s", msg)
}

// winPEAddr is InitWinPEModeType's physical address (a kernel global, in
// the image's data section: valid while the kernel runs).
func (b *boot) winPEAddr() (uint64, error) {
	va, err := b.k.Address(varWinPEMode)
	if err != nil {
		return 0, fmt.Errorf("winboot: %w", err)
	}
	loc, err := b.tr.Translate(b.k.DTB(), va)
	if err != nil {
		return 0, fmt.Errorf("winboot: nt!%s at %#x: %w", varWinPEMode, va, err)
	}
	if loc.State != translate.StateValid {
		return 0, fmt.Errorf("winboot: nt!%s at %#x is not resident (%v)", varWinPEMode, va, loc)
	}
	return loc.Addr, nil
}

// setWinPE ORs the bit into InitWinPEModeType now, through QEMU.
func (b *boot) setWinPE(ctx context.Context) (before uint32, err error) {
	pa, err := b.winPEAddr()
	if err != nil {
		return 0, err
	}
	b.winpePA = pa
	var v [4]byte
	if err := b.tgt.ReadPhysical(ctx, pa, v[:]); err != nil {
		return 0, fmt.Errorf("winboot: reading nt!%s: %w", varWinPEMode, err)
	}
	before = binary.LittleEndian.Uint32(v[:])
	binary.LittleEndian.PutUint32(v[:], before|WinPEInRAM)
	if err := b.tgt.WritePhysical(ctx, pa, v[:]); err != nil {
		return before, fmt.Errorf("winboot: writing nt!%s: %w", varWinPEMode, err)
	}
	return before, nil
}

// arm adds winboot's observer on a kernel function.
func (b *boot) arm(ctx context.Context, fn string, oneShot bool, h breakpoints.Handler) error {
	va, err := b.k.Address(fn)
	if err != nil {
		return fmt.Errorf("winboot: %w", err)
	}
	// KindAuto: under KVM a debug register while one is free, invisible
	// to the guest and to Windows' kernel patch protection (which would
	// see a 0xCC in NtCreatePagingFile), so clients keep the other two and
	// software breakpoints when the operator allows them; a visible one
	// only with that consent; under TCG an invisible software breakpoint.
	a, err := b.mgr.Add(ctx, breakpoints.Spec{
		Addr: va, OneShot: oneShot, Handler: b.noting(fn, h), Timeout: b.opt.HandlerTimeout, Owner: "winboot:" + fn,
		Kind: breakpoints.KindAuto,
	})
	if err != nil {
		return fmt.Errorf("winboot: arming nt!%s at %#x: %w", fn, va, err)
	}
	b.mu.Lock()
	b.observers[fn] = a.ID
	b.rep.Breakpoints = append(b.rep.Breakpoints, BreakpointUse{Function: fn, Addr: va, Placement: a.Placement})
	b.mu.Unlock()
	b.step("armed", "nt!%s at %#x (%v)", fn, va, a.Placement)
	return nil
}

// noting wraps a handler so that its failure is reported: the manager drops
// a failed handler's edits and resumes the guest, so winboot must say that
// this step did not happen, and must not wait for what it would have led
// to.
func (b *boot) noting(what string, h breakpoints.Handler) breakpoints.Handler {
	return func(ctx context.Context, f *breakpoints.Frame) error {
		err := h(ctx, f)
		if err != nil {
			b.mu.Lock()
			b.rep.Problems = append(b.rep.Problems, fmt.Sprintf("nt!%s at %#x: %v", what, f.Addr, err))
			if what == fnPhase1 || what == fnPhase1+":return" {
				// Its return will never be checked now.
				delete(b.observers, fnPhase1)
				delete(b.observers, fnPhase1+":return")
			}
			b.mu.Unlock()
			b.step("problem", "nt!%s's handler failed, its edits were dropped: %v", what, err)
		}
		return err
	}
}
