package vmi

import (
	"context"
	"errors"
	"fmt"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// stubEndpoint is what both implementations know once they have QEMU's
// monitor: where its gdbstub listens and which process QEMU is.
type stubEndpoint struct {
	name             string
	network, address string
	pid              int
	mon              *qmp.Monitor
}

// attachStub connects to the stub, takes charge of the guest and opens
// its memory: capabilities from the accelerator, then Attach, whose "?"
// removes whatever breakpoints a previous owner left when it died, then
// the best data-plane backend (the stub in physical mode verifies
// /proc/<pid>/mem, with the guest stopped by the attach). It returns the
// attach's stop. On error the guest is detached again, with Close's
// fallbacks (a new connection, then QMP), so a failed open never leaves
// it frozen.
func attachStub(ctx context.Context, ep stubEndpoint, opt Options) (_ *gdbstub.Client, _ *physmem.Memory, _ Capabilities, _ *Stop, err error) {
	caps, err := capabilities(ctx, ep.mon, opt)
	if err != nil {
		return nil, nil, Capabilities{}, nil, err
	}
	gdb, err := gdbstub.Dial(ctx, ep.network, ep.address, gdbstub.Config{Capabilities: caps, ReplyTimeout: opt.ReplyTimeout})
	if err != nil {
		return nil, nil, Capabilities{}, nil, fmt.Errorf("vmi: %s: connecting to the gdbstub at %s: %w", ep.name, ep.address, err)
	}
	defer func() {
		if err != nil {
			// Bounded like Close, and not by ctx: it may be what failed.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
			defer cancel()
			if derrs := detachStub(dctx, ep, gdb, caps); derrs != nil {
				err = errors.Join(append([]error{err}, derrs...)...)
			}
		}
	}()
	stop, err := gdb.Attach(ctx)
	if err != nil {
		return nil, nil, Capabilities{}, nil, fmt.Errorf("vmi: %s: attaching: %w", ep.name, err)
	}
	mem, err := physmem.Open(ctx, physmem.Options{Monitor: ep.mon, PID: ep.pid, Reference: stubReference{gdb}})
	if err != nil {
		return nil, nil, Capabilities{}, nil, fmt.Errorf("vmi: %s: guest memory: %w", ep.name, err)
	}
	return gdb, mem, caps, stop, nil
}
