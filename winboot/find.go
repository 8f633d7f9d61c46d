package winboot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/vmi"
)

// Architectural bits (Intel SDM vol. 3, 2.5 and 2.2.1): a kernel can only be
// mapped once paging is on in long mode.
const (
	cr0Paging = 1 << 31 // CR0.PG
	eferLMA   = 1 << 10 // EFER.LMA: long mode active
)

// find runs the guest in short slices until ntoskrnl is mapped, and leaves
// it stopped with the kernel opened.
func (b *boot) find(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.opt.FindTimeout)
	defer cancel()
	b.step("waiting", "looking for ntoskrnl every %v of guest time", b.opt.PollInterval)
	polls := 0
	for {
		if err := b.lifecycle(); err != nil {
			return err
		}
		stop, err := b.mgr.Pause(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return b.findFailed(ctx, polls, b.notFound(ctx))
			}
			return b.findFailed(ctx, polls, fmt.Errorf("winboot: stopping the guest to look for the kernel: %w", err))
		}
		polls++
		k, err := b.open(ctx, stop)
		if err == nil {
			b.found(k, polls)
			return nil
		}
		if !errors.Is(err, nt.ErrKernelNotFound) {
			return b.findFailed(ctx, polls, err)
		}
		if err := b.notWindows(ctx, stop); err != nil {
			return b.findFailed(ctx, polls, err)
		}
		if err := b.mgr.Resume(ctx); err != nil {
			if ctx.Err() != nil {
				// The search's time ran out as the guest was let go:
				// findFailed resumes it on a context of its own.
				return b.findFailed(ctx, polls, b.notFound(ctx))
			}
			return b.findFailed(ctx, polls, fmt.Errorf("winboot: resuming the guest: %w", err))
		}
		if err := b.sleep(ctx, b.opt.PollInterval); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w (after %d polls)", b.notFound(ctx), polls)
			}
			return err
		}
	}
}

// notFound is the search running out of time: however the deadline
// caught it (stopping the guest, letting it go, or waiting), the answer
// is that no kernel appeared.
func (b *boot) notFound(ctx context.Context) error {
	return fmt.Errorf("winboot: ntoskrnl not found in %v: %w", time.Since(b.began).Round(time.Millisecond), ctx.Err())
}

// findFailed leaves the guest running and says how far the search got.
func (b *boot) findFailed(ctx context.Context, polls int, err error) error {
	if rerr := b.resume(ctx); rerr != nil {
		b.opt.Logger.Error("winboot: leaving the guest running failed", "err", rerr)
	}
	return fmt.Errorf("%w (after %d polls)", err, polls)
}

// open looks for the kernel at a stop. nt.Open tries every kernel-half
// address the stop holds (RIP, RSP, the GS bases): early in the boot RIP
// may still be in the loader while the kernel is already mapped.
func (b *boot) open(ctx context.Context, stop *vmi.Stop) (*nt.Opened, error) {
	if stop == nil || stop.Registers == nil {
		return nil, fmt.Errorf("%w: the stop has no registers", nt.ErrKernelNotFound)
	}
	regs := stop.Registers
	cr0, err0 := regs.Uint("cr0")
	efer, err1 := regs.Uint("efer")
	if err := errors.Join(err0, err1); err != nil {
		return nil, fmt.Errorf("winboot: reading cr0/efer: %w", err)
	}
	if cr0&cr0Paging == 0 || efer&eferLMA == 0 {
		return nil, fmt.Errorf("%w: long-mode paging is not on yet", nt.ErrKernelNotFound)
	}
	return nt.Open(ctx, nt.Config{Physical: vmi.ReaderAt(b.tgt), Registers: regs, Symbols: b.opt.Symbols})
}

// ErrNotWindows: the guest's own kernel is running, and it is not Windows.
var ErrNotWindows = errors.New("winboot: the guest is not Windows")

// notWindows tells a guest whose own kernel runs, and is not Windows,
// from one still on its way to ntoskrnl. Windows' IDT handlers are
// ntoskrnl's from the moment its kernel loads the IDT (KiSystemStartup,
// before anything else runs), and a loader's IDT, if any, lies outside the
// kernel half. So an IDT whose divide-error handler is a kernel-half
// address with no ntoskrnl image below it belongs to another kernel. It
// returns nil while that cannot be told: no monitor to read the IDT, an
// IDT outside the kernel half, or memory that cannot be read.
func (b *boot) notWindows(ctx context.Context, stop *vmi.Stop) error {
	sr, ok := b.tgt.(vmi.SystemRegisterReader)
	if !ok || stop == nil || stop.Registers == nil {
		return nil
	}
	all, err := sr.SystemRegisters(ctx)
	if err != nil || len(all) == 0 {
		return nil
	}
	cr3, err := stop.Registers.Uint("cr3")
	if err != nil {
		return nil
	}
	hw := nt.HardwareMemory{Physical: vmi.ReaderAt(b.tgt), CR3: cr3}
	idt := all[0].IDT.Base
	handler, err := nt.IDTHandler(hw, idt, 0)
	if err != nil || handler < kernelHalf {
		return nil
	}
	_, err = nt.FindKernel(hw, handler)
	if !errors.Is(err, nt.ErrKernelNotFound) {
		return nil
	}
	return fmt.Errorf("%w: its IDT (at %#x) sends divide errors to %#x, in no Windows kernel image: %v", ErrNotWindows, idt, handler, err)
}

// kernelHalf is where x86-64's canonical upper half begins.
const kernelHalf = 0xffff_8000_0000_0000

func (b *boot) found(k *nt.Opened, polls int) {
	b.k = k
	b.mu.Lock()
	b.rep.KernelBase = k.Base()
	b.rep.KernelPDB = k.Image.Image.ID.String()
	b.rep.SymbolFile = k.SymbolFile
	b.rep.Polls = polls
	b.rep.FoundAfter = time.Since(b.began)
	b.mu.Unlock()
	b.step("kernel", "ntoskrnl %v at %#x after %d polls (%v); symbols from %s", k.Image.Image.ID, k.Base(), polls, time.Since(b.began).Round(time.Millisecond), k.SymbolFile)
}
