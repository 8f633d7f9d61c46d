package session

import (
	"context"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Work that needs a still guest for a while (a consistent dump, finding
// the kernel) stops it and must then leave it exactly as it was: running
// if it ran, stopped if it was stopped at a breakpoint, by an operator's
// Pause, or by someone outside Frost.

// Held is one hold: the stop the guest is in, whether the hold stopped a
// running guest, and how to let it go.
type Held struct {
	Stop       *vmi.Stop
	WasRunning bool
	release    func(ctx context.Context) error
}

// HoldTimeout bounds a pause, and a release whose context has no earlier
// deadline (a release runs after its caller may have gone).
const HoldTimeout = 30 * time.Second

// Hold stops the guest through the session's manager.
func (s *Session) Hold(ctx context.Context) (*Held, error) {
	done := s.holding() // no pause lease lapses under the hold
	running, before := s.Target.Running()
	stop, wasHeld, err := s.mgr.PauseHeld(ctx)
	if err != nil {
		done()
		return nil, err
	}
	h := &Held{Stop: stop, WasRunning: StoppedARunningGuest(running, before, stop)}
	var once sync.Once
	h.release = func(ctx context.Context) error {
		defer once.Do(done)
		if wasHeld {
			return nil // another Pause holds it; its Resume lets it go
		}
		return s.mgr.Release(ctx, h.WasRunning)
	}
	return h, nil
}

// Release lets the guest go as it was found.
func (h *Held) Release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, HoldTimeout)
	defer cancel()
	return h.release(ctx)
}

// StoppedARunningGuest says whether a pause that returned stop stopped a
// running guest, given what Running said before it. Whether the guest ran
// is read from the stop the pause returns (a newer stop than the one seen
// before), not from the look before it alone: a guest resumed from
// outside a moment ago still looks stopped until the target hears of it,
// and the target's Pause asks QEMU first.
func StoppedARunningGuest(running bool, before, stop *vmi.Stop) bool {
	switch {
	case stop == nil:
		return false
	case running:
		return true
	case before == nil:
		return false // stopped, but its stop not read yet: never resume it
	}
	return stop.Seq > before.Seq
}
