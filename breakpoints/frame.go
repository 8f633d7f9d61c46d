package breakpoints

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Frame is what a handler gets at a hit: the hit, reads of the stopped
// guest, and the edits it stages. It is valid until the handler returns or
// its deadline passes; staging after that fails with ErrFrameDone.
type Frame struct {
	*Hit
	*Edits
	// ID and Owner name the observer the handler belongs to.
	ID    ID
	Owner string
	// Call is, for a break-on-return observer, the hit of the call being
	// returned from; nil otherwise.
	Call *Hit

	m *Manager
	// returns are the break-on-return observers this frame armed: part of
	// its edits, removed again if the edits are dropped.
	mu      sync.Mutex
	returns []ID
	dropped bool // the edits were dropped
}

// ReadPhysical reads guest-physical memory.
func (f *Frame) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	return f.m.t.ReadPhysical(ctx, gpa, p)
}

// CPURegisters reads another vCPU's registers (the guest is all-stop, so
// every vCPU is stopped at a hit). The hit's own are in Regs.
func (f *Frame) CPURegisters(ctx context.Context, cpu vmi.CPU) (*vmi.Registers, error) {
	return f.m.t.Registers(ctx, cpu)
}

// ReadVirtual reads va in the address space of the hit (its CR3), through
// Options.Translate.
func (f *Frame) ReadVirtual(ctx context.Context, va uint64, p []byte) error {
	return f.m.eachPage(ctx, f.CR3, va, len(p), func(pa uint64, off, n int) error {
		return f.m.t.ReadPhysical(ctx, pa, p[off:off+n])
	})
}

// WriteVirtual stages a write at va in the hit's address space. It is
// translated now, while the guest is stopped, and staged as physical
// writes.
func (f *Frame) WriteVirtual(ctx context.Context, va uint64, data []byte) error {
	type piece struct {
		pa   uint64
		data []byte
	}
	var pieces []piece
	err := f.m.eachPage(ctx, f.CR3, va, len(data), func(pa uint64, off, n int) error {
		pieces = append(pieces, piece{pa, data[off : off+n]})
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range pieces {
		if err := f.WritePhysical(p.pa, p.data); err != nil {
			return err
		}
	}
	return nil
}

// ReturnSpec asks for a one-shot breakpoint on the return address of the
// call a handler is looking at.
type ReturnSpec struct {
	// ReturnAddress is where the call returns; 0 reads it from [rsp] at
	// the hit (through Options.Translate), which holds it at a
	// function's first instruction.
	ReturnAddress uint64
	Handler       Handler
	Timeout       time.Duration
	Owner         string
	OnDrop        func(id ID, why error)
}

// BreakOnReturn arms a one-shot observer on the return address of this
// hit's call. It accepts only the same guest thread (Options.Threads, or
// the same vCPU and address space without it) with a stack pointer above
// the call's, so a recursive or another thread's pass through the same
// address does not count. It is part of the frame's edits: dropped again
// if the handler fails.
func (f *Frame) BreakOnReturn(ctx context.Context, spec ReturnSpec) (Armed, error) {
	if f.Edits.closed() {
		return Armed{}, ErrFrameDone
	}
	ret := spec.ReturnAddress
	if ret == 0 {
		var b [8]byte
		if err := f.ReadVirtual(ctx, f.RSP, b[:]); err != nil {
			return Armed{}, fmt.Errorf("breakpoints: reading the return address at [rsp=%#x]: %w", f.RSP, err)
		}
		ret = binary.LittleEndian.Uint64(b[:])
	}
	s := Spec{
		Addr:     ret,
		OneShot:  true,
		Handler:  spec.Handler,
		Timeout:  spec.Timeout,
		Owner:    spec.Owner,
		OnDrop:   spec.OnDrop,
		ReturnOf: f.ID,
	}
	if ret < kernelStart {
		s.AddressSpace = &AddressSpace{DirectoryTableBase: f.CR3}
	}
	armed, err := f.m.add(ctx, s, f.Hit)
	if err != nil {
		return Armed{}, err
	}
	f.mu.Lock()
	dropped := f.dropped
	f.returns = append(f.returns, armed.ID)
	f.mu.Unlock()
	if dropped {
		// The deadline passed while arming: the edits it belonged to are
		// gone. ctx is the handler's, ended with that deadline, so the
		// removal gets its own: under an ended ctx the loop might never
		// take it, leaving the return breakpoint armed.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.m.opts.OpTimeout)
		defer cancel()
		if err := f.m.Remove(rctx, armed.ID); err != nil && !errors.Is(err, ErrUnknown) {
			f.m.log.Error("removing a dropped handler's return breakpoint", "id", armed.ID, "err", err)
		}
		return Armed{}, ErrFrameDone
	}
	return armed, nil
}
