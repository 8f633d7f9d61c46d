package vmitest

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/frostvmi/frost/vmi"
)

// The test's side of the guest: laying it out, and what happens to it that
// no call of the code under test caused.

// AddRAM adds a piece of RAM [gpa, gpa+size), zeroed.
func (t *Target) AddRAM(gpa, size uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mem.add(gpa, size)
}

// Poke writes guest RAM for the test, whatever the run state (the guest
// itself writing, or the test laying memory out).
func (t *Target) Poke(gpa uint64, p []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mem.write(gpa, p)
}

// SetRegs sets registers of cpu by name, whatever the run state (the
// guest itself running on).
func (t *Target) SetRegs(cpu vmi.CPU, vals map[string]uint64) error {
	if err := checkNames(vals); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.knownLocked(cpu); err != nil {
		return err
	}
	t.setLocked(cpu, vals)
	t.changedLocked()
	return nil
}

// OnStep decides where a step lands (it may change any register); nil
// means RIP moves on by one byte.
func (t *Target) OnStep(f func(cpu vmi.CPU, regs *vmi.Registers)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.onStep = f
}

// Hit makes the guest stop on cpu with the registers vals (rip: where the
// breakpoint is), a trap delivered on Events as a breakpoint hit is. It
// waits until the guest runs first, so hits come one after the other as a
// real guest's do; ctx bounds the wait.
func (t *Target) Hit(ctx context.Context, cpu vmi.CPU, vals map[string]uint64) (*vmi.Stop, error) {
	return t.stopBy(ctx, cpu, vals, vmi.SignalTrap, false, false)
}

// OutsidePause is an operator's pause (QMP stop, virsh suspend, a dump):
// the running guest stops with an interrupt nobody here asked for, flagged
// Outside (and Stray when stray: the guest had been resumed behind the
// client's back and a packet of its stopped it). It waits until the guest
// runs first.
func (t *Target) OutsidePause(ctx context.Context, stray bool) (*vmi.Stop, error) {
	return t.stopBy(ctx, t.cpus[0], nil, vmi.SignalInt, true, stray)
}

func (t *Target) stopBy(ctx context.Context, cpu vmi.CPU, vals map[string]uint64, sig int, outside, stray bool) (*vmi.Stop, error) {
	if err := checkNames(vals); err != nil {
		return nil, err
	}
	if err := t.WaitRunning(ctx); err != nil {
		return nil, err
	}
	t.mu.Lock()
	if err := t.knownLocked(cpu); err != nil {
		t.mu.Unlock()
		return nil, err
	}
	if !t.running {
		// Someone paused it between the wait and now: the test raced
		// the code under test, which the test must not do.
		t.mu.Unlock()
		return nil, errors.New("vmitest: the guest stopped before the scripted stop could happen")
	}
	t.setLocked(cpu, vals)
	t.running = false
	t.stop = t.newStop(cpu, sig)
	t.stop.Outside, t.stop.Stray = outside, stray
	s := t.stop
	t.emit(vmi.EventStop, s, nil, "")
	t.changedLocked()
	t.mu.Unlock()
	t.deliver()
	return s, nil
}

// RaceHit makes the next Pause of the running guest lose a race with a
// breakpoint: the guest is found stopped on cpu with vals, and that stop
// is both returned by Pause and delivered on Events.
func (t *Target) RaceHit(cpu vmi.CPU, vals map[string]uint64) error {
	if err := checkNames(vals); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.knownLocked(cpu); err != nil {
		return err
	}
	t.race = &pendingHit{cpu: cpu, vals: vals}
	return nil
}

// OutsideResume is an operator's resume (QMP cont, virsh resume, the end
// of a dump) while the guest was stopped: it runs, and EventResumed says
// so with reason.
func (t *Target) OutsideResume(reason string) error {
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		return errors.New("vmitest: OutsideResume of a running guest")
	}
	t.running = true
	t.emit(vmi.EventResumed, nil, nil, reason)
	t.changedLocked()
	t.mu.Unlock()
	t.deliver()
	return nil
}

// Reset is a guest reset: EventReset with reason. The run state stays and
// every breakpoint stays armed, as QEMU's do; a test that wants the new
// boot's memory lays it out before or after, as the scenario needs.
func (t *Target) Reset(reason string) {
	t.lifecycle(vmi.EventReset, nil, reason)
}

// Shutdown is the guest powering off: EventShutdown.
func (t *Target) Shutdown(reason string) {
	t.lifecycle(vmi.EventShutdown, nil, reason)
}

// Gone ends the connection: EventGone with err, then Events closes and
// every later call fails with vmi.ErrClosed.
func (t *Target) Gone(err error) {
	if err == nil {
		err = fmt.Errorf("vmitest: %w", vmi.ErrClosed)
	}
	t.mu.Lock()
	t.gone = true
	t.mu.Unlock()
	t.lifecycle(vmi.EventGone, err, "")
}

func (t *Target) lifecycle(kind vmi.EventKind, err error, reason string) {
	t.mu.Lock()
	t.emit(kind, nil, err, reason)
	t.changedLocked()
	t.mu.Unlock()
	t.deliver()
}

// State is a snapshot of the fake for Wait's condition.
type State struct {
	Running bool
	Stop    *vmi.Stop
	Armed   int
	Calls   []Call
}

// Wait waits until cond holds for the fake's state, or ctx ends. cond is
// called again after every change.
func (t *Target) Wait(ctx context.Context, cond func(State) bool) error {
	for {
		t.mu.Lock()
		s := State{Running: t.running, Stop: t.stop, Armed: len(t.armed), Calls: slices.Clone(t.calls)}
		ch := t.changed
		t.mu.Unlock()
		if cond(s) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("vmitest: waiting on the fake guest: %w", ctx.Err())
		}
	}
}

// WaitRunning waits until the guest runs.
func (t *Target) WaitRunning(ctx context.Context) error {
	return t.Wait(ctx, func(s State) bool { return s.Running })
}

// WaitStopped waits until the guest is stopped.
func (t *Target) WaitStopped(ctx context.Context) error {
	return t.Wait(ctx, func(s State) bool { return !s.Running })
}
