package gdbstub

import (
	"context"
	"errors"
	"fmt"
)

// Registers returns vCPU th's registers. The snapshot "g" took after the
// latest stop is reused while the guest stays stopped; otherwise one
// "Hg<th>" + "g" exchange reads them. The result is the caller's to keep.
func (c *Client) Registers(ctx context.Context, th ThreadID) (*Registers, error) {
	if c.regMap == nil {
		return nil, ErrNoTargetDescription
	}
	if r := c.cachedRegisters(th); r != nil {
		return r.Clone(), nil
	}
	r, err := c.readAll(ctx, th)
	if err != nil {
		return nil, err
	}
	return r.Clone(), nil
}

func (c *Client) cachedRegisters(th ThreadID) *Registers {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if c.e.st.state != StateStopped {
		return nil
	}
	return c.e.st.regs[th]
}

// readAll reads "g" for th and caches it for the current stop.
func (c *Client) readAll(ctx context.Context, th ThreadID) (*Registers, error) {
	if th.IsZero() {
		return nil, errors.New("gdbstub: registers need a vCPU")
	}
	hg, g := selectThread(th), req("g")
	if err := c.e.do(ctx, newBatch(ctx, hg, g)); err != nil {
		return nil, err
	}
	if err := checkOK(hg); err != nil {
		return nil, err
	}
	data, err := replyData(g)
	if err != nil {
		return nil, err
	}
	regs, err := parseRegisters(c.regMap, th, data)
	if err != nil {
		return nil, err
	}
	c.cache(g.seq, th, regs)
	return regs, nil
}

// cache records a "g" snapshot taken while stop seq was the latest.
func (c *Client) cache(seq uint64, th ThreadID, regs *Registers) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if st := &c.e.st; st.seq == seq && st.state == StateStopped && st.regs != nil {
		st.regs[th], st.synced[th] = regs, true
	}
}

// synced reports whether "g" has synchronized th since the latest stop.
func (c *Client) synced(th ThreadID) bool {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.e.st.state == StateStopped && c.e.st.synced[th]
}

// ReadRegister reads one register with "p", straight from the stub. Under
// KVM "p" returns stale values until "g" has synchronized the vCPU after
// a stop, so a "g" goes first unless one already has.
func (c *Client) ReadRegister(ctx context.Context, th ThreadID, name string) ([]byte, error) {
	info, err := c.lookup(name)
	if err != nil {
		return nil, err
	}
	reqs := []*request{selectThread(th)}
	var g *request
	if !c.synced(th) {
		g = req("g")
		reqs = append(reqs, g)
	}
	p := req("p%x", info.Number)
	reqs = append(reqs, p)
	if err := c.e.do(ctx, newBatch(ctx, reqs...)); err != nil {
		return nil, err
	}
	if err := checkOK(reqs[0]); err != nil {
		return nil, err
	}
	if g != nil {
		if data, err := replyData(g); err == nil {
			if regs, err := parseRegisters(c.regMap, th, data); err == nil {
				c.cache(g.seq, th, regs)
			}
		}
	}
	data, err := replyData(p)
	if err != nil {
		// QEMU answers p with an empty packet until target.xml was read.
		return nil, &RegisterError{Name: name, Err: err}
	}
	val := make([]byte, info.Size())
	unavailable := make([]bool, info.Size())
	if !decodeHex(val, data, unavailable) {
		return nil, &RegisterError{Name: name, Err: protocolErr("p reply %q for a %d-bit register", short(data), info.BitSize)}
	}
	for _, u := range unavailable {
		if u {
			return nil, &RegisterError{Name: name, Err: ErrUnavailable}
		}
	}
	return val, nil
}

// WriteRegister writes one register with "P" (value in target byte order,
// exactly the register's size). Under KVM the vCPU must have been
// synchronized by "g" first, or QEMU would not push the write to KVM.
func (c *Client) WriteRegister(ctx context.Context, th ThreadID, name string, value []byte) error {
	info, err := c.lookup(name)
	if err != nil {
		return err
	}
	if len(value) != info.Size() {
		return &RegisterError{Name: name, Err: fmt.Errorf("%d bytes for a %d-byte register", len(value), info.Size())}
	}
	reqs := []*request{selectThread(th)}
	if !c.synced(th) {
		reqs = append(reqs, req("g"))
	}
	p := &request{payload: appendHex(fmt.Appendf(nil, "P%x=", info.Number), value)}
	reqs = append(reqs, p)
	if err := c.e.do(ctx, newBatch(ctx, reqs...)); err != nil {
		return err
	}
	for _, r := range reqs {
		if r == p {
			break
		}
		if _, err := replyData(r); err != nil {
			return err
		}
	}
	if err := checkOK(p); err != nil {
		return &RegisterError{Name: name, Err: err}
	}
	c.patchCache(p.seq, th, func(r *Registers) { r.SetBytes(name, value) })
	return nil
}

// SetRegisters writes a whole register file with "G".
func (c *Client) SetRegisters(ctx context.Context, th ThreadID, regs *Registers) error {
	if c.regMap == nil {
		return ErrNoTargetDescription
	}
	if regs.m != c.regMap {
		return errors.New("gdbstub: SetRegisters: registers from another connection's map")
	}
	hg, g := selectThread(th), &request{payload: regs.gPayload()}
	if err := c.e.do(ctx, newBatch(ctx, hg, g)); err != nil {
		return err
	}
	if err := checkOK(hg); err != nil {
		return err
	}
	if err := checkOK(g); err != nil {
		return err
	}
	c.patchCache(g.seq, th, func(r *Registers) { copy(r.raw, regs.raw); clear(r.unavailable) })
	return nil
}

// patchCache applies a write to the cached snapshot, replacing it so that
// snapshots already handed out stay as they were.
func (c *Client) patchCache(seq uint64, th ThreadID, edit func(*Registers)) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	st := &c.e.st
	if st.seq != seq || st.regs == nil || st.regs[th] == nil {
		return
	}
	r := st.regs[th].Clone()
	edit(r)
	st.regs[th] = r
}

func (c *Client) lookup(name string) (RegisterInfo, error) {
	if c.regMap == nil {
		return RegisterInfo{}, &RegisterError{Name: name, Err: ErrNoTargetDescription}
	}
	info, ok := c.regMap.Lookup(name)
	if !ok {
		return RegisterInfo{}, &RegisterError{Name: name, Err: ErrUnknownRegister}
	}
	return info, nil
}
