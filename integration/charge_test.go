package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
)

// charge is a machine held through a vmi.Target and its breakpoint
// manager, as frostd holds a VM.
type charge struct {
	tgt vmi.Target
	mgr *breakpoints.Manager
}

// takeCharge opens m's Target (which stops the guest) and a manager over
// it. release closes both, leaving the guest running and clean; a caller
// that must end QEMU itself calls it first.
func takeCharge(ctx context.Context, m *minint.Machine) (c charge, release func() error, err error) {
	if c.tgt, err = vmi.OpenQEMU(ctx, m.Machine, vmi.Options{}); err != nil {
		return c, nil, fmt.Errorf("taking charge of the guest: %w", err)
	}
	if c.mgr, err = breakpoints.New(c.tgt, breakpoints.Options{}); err != nil {
		c.tgt.Close(ctx)
		return c, nil, err
	}
	release = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		merr := c.mgr.Close(ctx)
		if err := c.tgt.Close(ctx); err != nil {
			return err
		}
		return merr
	}
	return c, release, nil
}

// guestSymbols is an offline symbol store over a directory of PDBs (the
// guest's build output by default).
func guestSymbols(tb testing.TB, dir string) *store.Store {
	tb.Helper()
	if dir == "" {
		dir = guestOut(tb)
	}
	st, err := store.New(dir, "")
	if err != nil {
		tb.Fatal(err)
	}
	st.Offline = true
	return st
}
