package gdbstub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// BreakpointKind is the Z/z packet type.
type BreakpointKind int

const (
	Software    BreakpointKind = 0 // Z0
	Hardware    BreakpointKind = 1 // Z1: a debug register
	WriteWatch  BreakpointKind = 2 // Z2
	ReadWatch   BreakpointKind = 3 // Z3
	AccessWatch BreakpointKind = 4 // Z4
)

func (k BreakpointKind) String() string {
	switch k {
	case Software:
		return "software breakpoint (Z0)"
	case Hardware:
		return "hardware breakpoint (Z1)"
	case WriteWatch:
		return "write watchpoint (Z2)"
	case ReadWatch:
		return "read watchpoint (Z3)"
	case AccessWatch:
		return "access watchpoint (Z4)"
	}
	return fmt.Sprintf("BreakpointKind(%d)", int(k))
}

// Breakpoint is one Z/z target. Size is the Z packet's "kind": for x86
// breakpoints 1 (0 means 1), for watchpoints the watched length.
type Breakpoint struct {
	Kind BreakpointKind
	Addr uint64
	Size int
}

func (b Breakpoint) normalized() Breakpoint {
	if b.Size == 0 {
		b.Size = 1
	}
	return b
}

func (b Breakpoint) String() string {
	b = b.normalized()
	return fmt.Sprintf("Z%d at %#x (size %d)", int(b.Kind), b.Addr, b.Size)
}

// packet is "Z<kind>,<addr>,<size>" (insert) or the same with 'z'.
func (b Breakpoint) packet(insert bool) []byte {
	b = b.normalized()
	op := byte('z')
	if insert {
		op = 'Z'
	}
	return fmt.Appendf(nil, "%c%d,%x,%x", op, int(b.Kind), b.Addr, b.Size)
}

// InsertBreakpoint arms bp after checking it against the capabilities:
// nothing is sent for a kind the accelerator cannot honour, or a Z1 when
// every debug register is taken. Inserting an armed breakpoint again is a
// no-op: QEMU would keep two, and one removal would leave the other armed.
func (c *Client) InsertBreakpoint(ctx context.Context, bp Breakpoint) error {
	bp = bp.normalized()
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	if c.armed[bp] {
		return nil
	}
	hw := 0
	for b := range c.armed {
		if b.Kind == Hardware {
			hw++
		}
	}
	if err := c.caps.check(bp.Kind, hw); err != nil {
		return &BreakpointError{Op: "insert", Breakpoint: bp, Err: err}
	}
	r := &request{payload: bp.packet(true)}
	if err := c.exchange(ctx, r); err != nil {
		return &BreakpointError{Op: "insert", Breakpoint: bp, Err: err}
	}
	if err := checkOK(r); err != nil {
		var se *StubError
		if errors.As(err, &se) && se.Code == CodeEINVAL && bp.Kind != Software {
			// QEMU's KVM answer when the debug registers are used up.
			err = fmt.Errorf("%w (%w)", ErrSlotsExhausted, se)
		}
		return &BreakpointError{Op: "insert", Breakpoint: bp, Err: err}
	}
	c.armed[bp] = true
	return nil
}

// RemoveBreakpoint disarms bp. It may name a breakpoint this client did
// not arm: a client that died leaves its breakpoints in QEMU.
func (c *Client) RemoveBreakpoint(ctx context.Context, bp Breakpoint) error {
	bp = bp.normalized()
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	r := &request{payload: bp.packet(false)}
	if err := c.exchange(ctx, r); err != nil {
		return &BreakpointError{Op: "remove", Breakpoint: bp, Err: err}
	}
	if err := checkOK(r); err != nil {
		var se *StubError
		if errors.As(err, &se) {
			delete(c.armed, bp) // the stub has no such breakpoint
		}
		return &BreakpointError{Op: "remove", Breakpoint: bp, Err: err}
	}
	delete(c.armed, bp)
	return nil
}

// Breakpoints lists the breakpoints this client has armed.
func (c *Client) Breakpoints() []Breakpoint {
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	out := make([]Breakpoint, 0, len(c.armed))
	for b := range c.armed {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b Breakpoint) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.Size, b.Size))
	})
	return out
}

// zBatch removes (insert=false) or re-inserts breakpoints in one batch
// around a step-over, without touching the bookkeeping: they stay armed
// as far as the caller is concerned.
func (c *Client) zBatch(ctx context.Context, insert bool, bps []Breakpoint) error {
	if len(bps) == 0 {
		return nil
	}
	reqs := make([]*request, len(bps))
	for i, bp := range bps {
		reqs[i] = &request{payload: bp.normalized().packet(insert)}
	}
	if err := c.e.do(ctx, newBatch(ctx, reqs...)); err != nil {
		return err
	}
	op := map[bool]string{true: "insert", false: "remove"}[insert]
	var errs []error
	for i, r := range reqs {
		if err := checkOK(r); err != nil {
			errs = append(errs, &BreakpointError{Op: op, Breakpoint: bps[i].normalized(), Err: err})
		}
	}
	return errors.Join(errs...)
}
