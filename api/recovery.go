package api

import (
	"context"
	"fmt"
)

// RecoveryResult is what happened to one VM a previous frostd held.
type RecoveryResult struct {
	VM  string
	Err error // nil: re-attached, stale breakpoints cleared, detached
}

func (r RecoveryResult) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: not recovered: %v", r.VM, r.Err)
	}
	return r.VM + ": recovered (stale breakpoints cleared, guest resumed and detached)"
}

// Recover lets go of every VM a crashed frostd held: it attaches again
// (a fresh gdbstub session, which clears the breakpoints the dead one left
// in), then closes the Target, which removes what is left and detaches with
// D;1, resuming the guest. VMs it could not recover stay in the state file.
func Recover(ctx context.Context, f *StateFile, attach AttachFunc) ([]RecoveryResult, error) {
	names, err := f.Load()
	if err != nil {
		return nil, err
	}
	var out []RecoveryResult
	var left []string
	for _, name := range names {
		err := recoverOne(ctx, name, attach)
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
		return fmt.Errorf("attach is not available in this frostd yet (it waits on a vmi Target over libvirt)")
	}
	t, err := attach(ctx, name)
	if err != nil {
		return err
	}
	return t.Close(ctx)
}
