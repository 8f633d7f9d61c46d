package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/vmi"
)

// ErrRunning: the call needs a stopped guest (registers and a stack that
// do not move under it).
var ErrRunning = errors.New("the guest is running: stop it first (a breakpoint, Pause or Hold)")

// StackAt is a vCPU's call stack with the thread and process it runs,
// when the kernel names them.
type StackAt struct {
	CPU     vmi.CPU
	Thread  *nt.Thread
	Process *nt.Process
	nt.Stack
}

// Stack unwinds the call stack of a stopped vCPU (the zero CPU: the one
// that stopped). It needs the Windows kernel: its modules' and the
// process's unwind data.
func (s *Session) Stack(ctx context.Context, cpu vmi.CPU, max int) (StackAt, error) {
	running, stop := s.Target.Running()
	if running {
		return StackAt{}, ErrRunning
	}
	k, err := s.Kernel(ctx)
	if err != nil {
		return StackAt{}, err
	}
	if cpu.IsZero() && stop != nil {
		cpu = stop.Thread
	}
	if cpu.IsZero() {
		cpus, err := s.Target.CPUs(ctx)
		if err != nil {
			return StackAt{}, err
		}
		if len(cpus) == 0 {
			return StackAt{}, errors.New("the target has no vCPU")
		}
		cpu = cpus[0]
	}
	regs, err := s.Target.Registers(ctx, cpu)
	if err != nil {
		return StackAt{}, fmt.Errorf("reading the registers of %s: %w", cpu, err)
	}
	out := stackOf(ctx, k, regs, nil, max)
	out.CPU = cpu
	return out, nil
}

// HitStack unwinds the stack at a breakpoint hit, while the guest waits
// there. The thread is the one the manager named, or the vCPU's current
// one.
func (s *Session) HitStack(ctx context.Context, h *breakpoints.Hit, max int) (StackAt, error) {
	k := s.k.found.Load()
	if k == nil {
		return StackAt{}, ErrNoKernelYet
	}
	if h.Regs == nil {
		return StackAt{}, errors.New("the hit has no registers")
	}
	var th *nt.Thread
	if h.ThreadKnown {
		if t, err := k.ThreadAt(h.Thread); err == nil {
			th = &t
		}
	}
	out := stackOf(ctx, k, h.Regs, th, max)
	out.CPU = h.CPU
	return out, nil
}

// stackOf names the thread and process (best effort: a stack is worth
// having without them, its user frames then unnamed) and unwinds.
func stackOf(ctx context.Context, k *nt.Opened, regs *vmi.Registers, th *nt.Thread, max int) StackAt {
	var out StackAt
	var p *nt.Process
	if th == nil {
		if cur, err := k.Current(regs); err == nil {
			th, p = &cur.Thread, &cur.AddressSpace
		}
	}
	if th != nil && p == nil {
		pid := th.PID
		if th.Attached() {
			if pr, err := k.ProcessAt(th.AddressSpace); err == nil {
				p = &pr
			}
		} else if pr, err := k.ProcessByPID(pid); err == nil {
			p = &pr
		}
	}
	cr3, err := regs.Uint("cr3")
	if err != nil {
		out.Err = fmt.Errorf("reading cr3: %w", err)
		return out
	}
	if p == nil {
		if pr, err := k.ProcessByDTB(cr3); err == nil {
			p = &pr
		}
	}
	out.Thread, out.Process = th, p
	ur, err := nt.UnwindRegisters(regs)
	if err != nil {
		out.Err = err
		return out
	}
	out.Stack = k.Symbolizer().Stack(ctx, cr3, p, ur, max)
	return out
}
