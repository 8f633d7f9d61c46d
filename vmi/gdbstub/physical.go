package gdbstub

import (
	"context"
	"fmt"
)

// QEMU's "Qqemu.PhyMemMode:1" makes "m" and "M" take guest-physical
// addresses. It is the data plane's last resort (the shared RAM file and
// /proc/<pid>/mem are far faster) and the path for writes, which must go
// through QEMU. In physical mode QEMU reads past RAM as zeros, not as an
// error: callers must bound addresses by the guest-physical map.

// PhysicalMode asks the stub which mode "m"/"M" are in.
func (c *Client) PhysicalMode(ctx context.Context) (bool, error) {
	if !c.physical {
		return false, fmt.Errorf("gdbstub: qqemu.PhyMemMode: %w", ErrUnsupported)
	}
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	data, err := c.query(ctx, "qqemu.PhyMemMode")
	if err != nil {
		return false, err
	}
	c.physMode = string(data) == "1"
	return c.physMode, nil
}

// SetPhysicalMode switches "m"/"M" between virtual (false) and physical
// addresses for every later memory request.
func (c *Client) SetPhysicalMode(ctx context.Context, on bool) error {
	if !c.physical {
		return fmt.Errorf("gdbstub: Qqemu.PhyMemMode: %w", ErrUnsupported)
	}
	// Held across the round trip: ReadPhysical must see the mode this
	// leaves behind, to restore it.
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	r := modeRequest(on)
	if err := c.exchange(ctx, r); err != nil {
		return err
	}
	if err := checkOK(r); err != nil {
		return err
	}
	c.physMode = on
	return nil
}

func modeRequest(on bool) *request {
	if on {
		return req("Qqemu.PhyMemMode:1")
	}
	return req("Qqemu.PhyMemMode:0")
}

// physicalSwitch returns the switch into physical mode and back to the
// mode in force, in one batch with the accesses. The way back is
// essential: it is sent even if the caller's context ends mid-batch.
func (c *Client) physicalSwitch() (*modeSwitch, error) {
	if !c.physical {
		return nil, fmt.Errorf("gdbstub: physical memory: %w", ErrUnsupported)
	}
	if c.physMode {
		return &modeSwitch{}, nil // already physical: nothing to switch
	}
	leave := modeRequest(false)
	leave.essential = true
	return &modeSwitch{enter: modeRequest(true), leave: leave}, nil
}

// ReadPhysical reads guest-physical memory, switching the stub to physical
// mode and back around the reads.
func (c *Client) ReadPhysical(ctx context.Context, addr uint64, p []byte) (int, error) {
	// The mode lock is held for the whole access so that the mode it
	// restores is the one in force; the reads themselves are pipelined.
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	sw, err := c.physicalSwitch()
	if err != nil {
		return 0, err
	}
	return c.readMemory(ctx, ThreadID{}, addr, p, sw)
}

// WritePhysical writes guest-physical memory, like ReadPhysical.
func (c *Client) WritePhysical(ctx context.Context, addr uint64, data []byte) (int, error) {
	c.modeMu.Lock()
	defer c.modeMu.Unlock()
	sw, err := c.physicalSwitch()
	if err != nil {
		return 0, err
	}
	return c.writeMemory(ctx, ThreadID{}, addr, data, sw)
}
