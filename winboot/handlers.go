package winboot

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/frostvmi/frost/breakpoints"
)

// onPhase1 runs at Phase1InitializationDiscard's entry: the bit set at the
// find must still be there, and the return is armed to check it again once
// the function is done with InitWinPEModeType.
func (b *boot) onPhase1(ctx context.Context, f *breakpoints.Frame) error {
	v, err := b.readWinPE(ctx, f)
	if err != nil {
		return err
	}
	if v&WinPEInRAM == 0 {
		if err := b.stageWinPE(f, v); err != nil {
			return err
		}
	}
	ret, err := b.returnAddress(f)
	if err != nil {
		return err
	}
	a, err := f.BreakOnReturn(ctx, breakpoints.ReturnSpec{
		ReturnAddress: ret, Handler: b.noting(fnPhase1+":return", b.onPhase1Return), Timeout: b.opt.HandlerTimeout, Owner: "winboot:" + fnPhase1 + ":return",
	})
	if err != nil {
		return fmt.Errorf("winboot: arming the return of nt!%s at %#x: %w", fnPhase1, ret, err)
	}
	b.mu.Lock()
	b.rep.ArmedBeforePhase1 = true
	b.observers[fnPhase1+":return"] = a.ID
	b.mu.Unlock()
	b.step("phase1-enter", "nt!%s entered with InitWinPEModeType %#08x; its return at %#x is armed", fnPhase1, v, ret)
	return nil
}

// onPhase1Return checks the bit when Phase1InitializationDiscard returns:
// a build that assigns InitWinPEModeType instead of ORing into it has
// overwritten it, and winboot sets it again.
func (b *boot) onPhase1Return(ctx context.Context, f *breakpoints.Frame) error {
	v, err := b.readWinPE(ctx, f)
	if err != nil {
		return err
	}
	after, overwritten := v, v&WinPEInRAM == 0
	if overwritten {
		if err := b.stageWinPE(f, v); err != nil {
			return err
		}
		after = v | WinPEInRAM
	}
	b.mu.Lock()
	b.rep.Phase1Returned = true
	b.rep.Overwritten = overwritten
	b.rep.WinPEAfter = after
	b.mu.Unlock()
	if overwritten {
		b.step("phase1-return", "nt!%s returned with InitWinPEModeType %#08x: the bit was overwritten; re-applied (%#08x)", fnPhase1, v, after)
	} else {
		b.step("phase1-return", "nt!%s returned; InitWinPEModeType %#08x holds the bit", fnPhase1, v)
	}
	return nil
}

// onCreatePagingFile answers smss's NtCreatePagingFile with STATUS_SUCCESS
// without running it. At the function's first instruction [rsp] is the
// return address, so the return is emulated exactly: RAX = 0, RIP = the
// popped return address, RSP + 8. (Redirecting RIP to a real `ret` would
// need a decoder to find one; the emulation needs nothing and touches only
// registers, which the manager applies together or not at all.)
func (b *boot) onCreatePagingFile(ctx context.Context, f *breakpoints.Frame) error {
	name := "(unreadable)"
	if rcx, err := f.Regs.Uint("rcx"); err == nil {
		// The first argument is a user-mode UNICODE_STRING in smss.exe.
		// translate takes CR3 as it is: the PCID and no-flush bits are
		// not part of the table's address and it drops them.
		if s, err := b.k.UnicodeString(f.CR3, rcx); err == nil {
			name = s
		} else {
			name = fmt.Sprintf("(unreadable at %#x: %v)", rcx, err)
		}
	}
	ret, err := b.returnAddress(f)
	if err != nil {
		return err
	}
	for _, e := range []struct {
		reg string
		v   uint64
	}{{"rax", 0}, {"rip", ret}, {"rsp", f.RSP + 8}} {
		if err := f.SetRegister(e.reg, e.v); err != nil {
			return fmt.Errorf("winboot: staging %s: %w", e.reg, err)
		}
	}
	b.mu.Lock()
	b.rep.PagingFilesRefused = append(b.rep.PagingFilesRefused, name)
	b.mu.Unlock()
	b.step("pagingfile", "nt!%s(%q) answered STATUS_SUCCESS without running; returning to %#x", fnPagingFile, name, ret)
	return nil
}

// returnAddress reads [rsp] at a function's first instruction.
func (b *boot) returnAddress(f *breakpoints.Frame) (uint64, error) {
	var v [8]byte
	if err := b.k.ReadVirtual(f.CR3, f.RSP, v[:]); err != nil {
		return 0, fmt.Errorf("winboot: reading the return address at [rsp] %#x: %w", f.RSP, err)
	}
	return binary.LittleEndian.Uint64(v[:]), nil
}

func (b *boot) readWinPE(ctx context.Context, f *breakpoints.Frame) (uint32, error) {
	var v [4]byte
	if err := f.ReadPhysical(ctx, b.winpePA, v[:]); err != nil {
		return 0, fmt.Errorf("winboot: reading nt!%s: %w", varWinPEMode, err)
	}
	return binary.LittleEndian.Uint32(v[:]), nil
}

func (b *boot) stageWinPE(f *breakpoints.Frame, v uint32) error {
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], v|WinPEInRAM)
	if err := f.WritePhysical(b.winpePA, w[:]); err != nil {
		return fmt.Errorf("winboot: staging nt!%s: %w", varWinPEMode, err)
	}
	return nil
}
