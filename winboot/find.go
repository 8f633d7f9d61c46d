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
	// kernelHalf is where x86-64's canonical upper half starts; Windows
	// maps ntoskrnl there.
	kernelHalf = 0xffff800000000000
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
		if err := b.mgr.Resume(ctx); err != nil {
			return b.findFailed(ctx, polls, fmt.Errorf("winboot: resuming the guest: %w", err))
		}
		if err := b.sleep(ctx, b.opt.PollInterval); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("winboot: ntoskrnl not found after %d polls in %v: %w", polls, time.Since(b.began).Round(time.Millisecond), ctx.Err())
			}
			return err
		}
	}
}

// findFailed leaves the guest running and says how far the search got.
func (b *boot) findFailed(ctx context.Context, polls int, err error) error {
	if rerr := b.resume(ctx); rerr != nil {
		b.opt.Logger.Error("winboot: leaving the guest running failed", "err", rerr)
	}
	return fmt.Errorf("%w (after %d polls)", err, polls)
}

// open looks for the kernel from each kernel-half address the stop offers:
// RIP, RSP, the GS base and the kernel GS base. Early in the boot RIP may be
// in a loader while the kernel is already mapped; later a vCPU may be
// idle in a HAL routine or in user mode while KPCR and the stack point
// into the kernel's address range.
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
	var tried []uint64
	for _, name := range []string{"rip", "rsp", "gs_base", "k_gs_base"} {
		v, err := regs.Uint(name)
		if err != nil || v < kernelHalf || seen(tried, v) {
			continue
		}
		tried = append(tried, v)
		k, err := nt.Open(ctx, nt.Config{Physical: vmi.ReaderAt(b.tgt), Registers: regs, From: v, Symbols: b.opt.Symbols})
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, nt.ErrKernelNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w from %d candidate addresses", nt.ErrKernelNotFound, len(tried))
}

func seen(list []uint64, v uint64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

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
