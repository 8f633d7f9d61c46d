package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// RecoveryResult is what happened to one VM a dead frostd held.
type RecoveryResult struct {
	VM  string
	Err error // nil: let go
	// Gone: libvirt no longer knows the domain, or it no longer runs;
	// nothing was left to free.
	Gone bool
	// Detached: re-attached, stale breakpoints cleared, detached (D;1).
	Detached bool
	// Resumed: the domain was left paused in libvirt and is running again.
	Resumed bool
}

func (r RecoveryResult) String() string {
	if r.Gone {
		return r.VM + ": the domain no longer exists or no longer runs: nothing to let go"
	}
	if r.Err != nil {
		return fmt.Sprintf("%s: not recovered: %v", r.VM, r.Err)
	}
	var did []string
	if r.Detached {
		did = append(did, "stale breakpoints cleared, guest resumed and detached")
	}
	if r.Resumed {
		did = append(did, "domain left paused resumed")
	}
	if len(did) == 0 {
		did = append(did, "nothing was left to do")
	}
	return r.VM + ": recovered (" + strings.Join(did, "; ") + ")"
}

// ErrNotRunning: the domain is shut off or crashed, so no guest is left
// stopped and no breakpoint left in; an Attach for a Releaser says so.
var ErrNotRunning = errors.New("the domain is not running")

// DefaultReleaseTimeout bounds the release of one VM: a hung QEMU or
// libvirtd must not hold the others, nor frostd's start, for long.
const DefaultReleaseTimeout = 15 * time.Second

// Releaser lets go of the VMs a dead frostd held. frostd uses it at start
// for what its state file records; the guard uses it the moment frostd's
// connection drops.
type Releaser struct {
	// Attach re-attaches: vmi's attach removes the breakpoints a dead
	// client left in, and the target's Close detaches with D;1.
	Attach AttachFunc
	// ResumePaused resumes the domain if libvirt reports it paused, and
	// says whether it did.
	ResumePaused func(ctx context.Context, name string) (bool, error)
	// Timeout bounds each VM; 0 is DefaultReleaseTimeout.
	Timeout time.Duration
}

// Release lets go of one VM: attached ones are re-attached and detached,
// paused ones resumed. It returns within the timeout whatever the VM's
// QEMU does; a call still stuck is abandoned (its own deadline ends it).
func (r Releaser) Release(ctx context.Context, name string, attached, paused bool) RecoveryResult {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultReleaseTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	done := make(chan RecoveryResult, 1)
	go func() {
		defer cancel()
		done <- r.release(ctx, name, attached, paused)
	}()
	select {
	case res := <-done:
		return res
	case <-ctx.Done():
		return RecoveryResult{VM: name, Err: fmt.Errorf("not let go within %v (QEMU or libvirtd does not answer): %w", timeout, context.Cause(ctx))}
	}
}

func (r Releaser) release(ctx context.Context, name string, attached, paused bool) RecoveryResult {
	res := RecoveryResult{VM: name}
	if attached {
		if r.Attach == nil {
			res.Err = errors.New("no libvirt connection to re-attach with")
			return res
		}
		t, err := r.Attach(ctx, name)
		if errors.Is(err, vmi.ErrNoDomain) || errors.Is(err, ErrNotRunning) {
			res.Gone = true
			return res
		}
		if err == nil {
			err = t.Close(ctx)
		}
		if err != nil {
			res.Err = err
			return res
		}
		res.Detached = true
	}
	if paused {
		if r.ResumePaused == nil {
			res.Err = errors.New("no libvirt connection to resume the paused domain with")
			return res
		}
		resumed, err := r.ResumePaused(ctx, name)
		if errors.Is(err, vmi.ErrNoDomain) {
			res.Gone = !attached
			return res
		}
		res.Resumed, res.Err = resumed, err
	}
	return res
}

// ReleaseAll lets go of every VM of h at once, each in its own goroutine
// with its own timeout, so one hung VM does not delay the others. each, if
// not nil, hears every result as it comes.
func (r Releaser) ReleaseAll(ctx context.Context, h Holds, each func(RecoveryResult)) []RecoveryResult {
	attached, paused := set(h.VMs), set(h.Paused)
	names := h.Names()
	out := make([]RecoveryResult, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.Release(ctx, name, attached[name], paused[name])
			if each != nil {
				each(out[i])
			}
		}()
	}
	wg.Wait()
	return out
}

func set(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Unrecovered is what of h the results did not let go.
func Unrecovered(h Holds, results []RecoveryResult) Holds {
	var ok []string
	for _, r := range results {
		if r.Err == nil {
			ok = append(ok, r.VM)
		}
	}
	return h.Without(ok)
}

// Recover lets go of every VM h records (what a dead frostd held), in the
// background while frostd serves: each VM is marked in reg as being
// recovered until its release ends, and calls on it meanwhile get a
// *RecoveringError. VMs it could not recover stay in the state file for
// the next start. done is closed once every VM's release has ended.
func Recover(h Holds, f *StateFile, reg *Registry, rel Releaser, report func(RecoveryResult)) (done <-chan struct{}) {
	names := h.Names()
	reg.markRecovering(names)
	f.KeepHolds(h) // recorded until let go
	_ = f.Resave() // a failure was reported through Health
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		rel.ReleaseAll(context.Background(), h, func(r RecoveryResult) {
			if r.Err == nil {
				f.forgetUnrecovered(r.VM)
			}
			reg.recovered(r.VM)
			if report != nil {
				report(r)
			}
		})
	}()
	return ch
}

// forgetUnrecovered drops a VM let go from what is kept, and rewrites the
// record.
func (f *StateFile) forgetUnrecovered(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unrecovered = f.unrecovered.Without([]string{name})
	_ = f.saveLocked() // a failure was reported through Health
}

// ErrBeingRecovered: the VM was held by a frostd that died, and is being
// let go. It wraps vmi.ErrClosed, as the old hold is being closed: the
// API maps both to Unavailable (try again shortly).
var ErrBeingRecovered = fmt.Errorf("being recovered from a previous frostd (its breakpoints removed, the guest resumed); try again shortly: %w", vmi.ErrClosed)

// RecoveringError: calls on a VM still being recovered.
type RecoveringError struct{ Name string }

func (e *RecoveringError) Error() string { return "VM " + e.Name + " is " + ErrBeingRecovered.Error() }

func (e *RecoveringError) Unwrap() error { return ErrBeingRecovered }

func (r *Registry) markRecovering(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recovering == nil {
		r.recovering = map[string]bool{}
	}
	for _, n := range names {
		r.recovering[n] = true
	}
}

func (r *Registry) recovered(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.recovering, name)
}

// Recovering says whether name is still being let go by Recover.
func (r *Registry) Recovering(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recovering[name]
}

// Recorder writes a hold down before it begins (*StateFile is one).
type Recorder interface {
	Begin(h Hold) (end func(), err error)
}

// UseRecorder makes the registry write holds down through rec before they
// begin (BeginHold, RecordedAttach).
func (r *Registry) UseRecorder(rec Recorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec = rec
}

// BeginHold writes a hold down before it begins; with no recorder it
// records nothing. An error means the hold must not begin.
func (r *Registry) BeginHold(h Hold) (end func(), err error) {
	r.mu.Lock()
	rec, recovering := r.rec, r.recovering[h.VM]
	r.mu.Unlock()
	if recovering {
		return nil, &RecoveringError{Name: h.VM}
	}
	if rec == nil {
		return func() {}, nil
	}
	return rec.Begin(h)
}

// RecordedAttach is attach written down first: the VM is recorded as
// attached before its gdbstub stops it, so a crash during or right after
// the attach is still let go. A failed attach is forgotten at once; a
// successful one stays recorded until the registry holds the VM.
func (r *Registry) RecordedAttach(attach AttachFunc) AttachFunc {
	if attach == nil {
		return nil
	}
	return func(ctx context.Context, name string) (vmi.Target, error) {
		end, err := r.BeginHold(Hold{VM: name, Kind: HoldAttached})
		if err != nil {
			return nil, err
		}
		t, err := attach(ctx, name)
		if err != nil {
			end()
		}
		return t, err
	}
}
