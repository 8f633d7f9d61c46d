package session

import (
	"context"
	"errors"
	"fmt"
	"github.com/frostvmi/frost/vmi"
)

// RecoveryResult is what happened to one VM a previous frostd held.
type RecoveryResult struct {
	VM  string
	Err error // nil: re-attached, stale breakpoints cleared, detached
	// Gone: libvirt no longer knows the domain; nothing was left to free.
	Gone bool
}

func (r RecoveryResult) String() string {
	if r.Gone {
		return r.VM + ": the domain no longer exists"
	}
	if r.Err != nil {
		return fmt.Sprintf("%s: not recovered: %v", r.VM, r.Err)
	}
	return r.VM + ": recovered (stale breakpoints cleared, guest resumed and detached)"
}

// Recover lets go of every VM a crashed frostd held: it attaches again
// (vmi's attach removes the breakpoints the dead one left in), then closes
// the Target, which detaches with D;1 and so resumes the guest. VMs it
// could not recover stay in the state file for the next start.
func Recover(ctx context.Context, f *StateFile, attach AttachFunc) ([]RecoveryResult, error) {
	names, err := f.Load()
	if err != nil {
		return nil, err
	}
	var out []RecoveryResult
	var left []string
	for _, name := range names {
		err := recoverOne(ctx, name, attach)
		if errors.Is(err, vmi.ErrNoDomain) {
			// The domain is gone, and no guest is left to free.
			out = append(out, RecoveryResult{VM: name, Gone: true})
			continue
		}
		out = append(out, RecoveryResult{VM: name, Err: err})
		if err != nil {
			left = append(left, name)
		}
	}
	f.Keep(left)
	return out, f.Save(nil)
}

func recoverOne(ctx context.Context, name string, attach AttachFunc) error {
	if attach == nil {
		return fmt.Errorf("frostd has no libvirt connection to re-attach with")
	}
	t, err := attach(ctx, name)
	if err != nil {
		return err
	}
	return t.Close(ctx)
}
