package vmitest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Config describes the fake guest. The zero Config is a one-vCPU TCG guest
// with 64 MiB of RAM at GPA 0, stopped, as a freshly opened Target is.
type Config struct {
	// Name is what Name returns; "" means "fake".
	Name string
	// CPUs are the vCPUs; none means one, {Pid: 1, Tid: 1}.
	CPUs []vmi.CPU
	// Capabilities are checked by InsertBreakpoint; the zero value means
	// TCG's.
	Capabilities *vmi.Capabilities
	// RAM is the size of guest RAM from GPA 0; 0 means 64 MiB. AddRAM adds
	// more pieces.
	RAM uint64
	// Running starts the guest running instead of stopped.
	Running bool
	// Events is the Events channel's buffer; 0 means 256.
	Events int
}

// Target is the fake guest: a vmi.Target whose guest the test drives
// (script.go) and inspects (record.go). Methods are safe for concurrent
// use.
type Target struct {
	name   string
	caps   vmi.Capabilities
	cpus   []vmi.CPU
	events chan vmi.Event
	done   chan struct{} // closed by Close: stops sends on events

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change (Wait)
	running bool
	seq     uint64
	stop    *vmi.Stop
	regs    map[vmi.CPU]*vmi.Registers
	mem     memory
	armed   map[vmi.Breakpoint]bool
	calls   []Call
	fails   map[Op][]error
	always  map[Op]error
	hooks   map[Op]func(Call) error
	race    *pendingHit
	onStep  func(cpu vmi.CPU, regs *vmi.Registers)
	pending []vmi.Event
	gone    bool // EventGone sent or Close called: calls fail
	closed  bool

	sendMu       sync.Mutex // serializes deliveries, in emission order
	eventsClosed bool       // under sendMu
}

type pendingHit struct {
	cpu  vmi.CPU
	vals map[string]uint64
}

var _ vmi.Target = (*Target)(nil)
var _ vmi.PhysicalMapper = (*Target)(nil)

// New makes a fake guest. It fails only on a Config it cannot build.
func New(cfg Config) (*Target, error) {
	t := &Target{
		name: cfg.Name, cpus: slices.Clone(cfg.CPUs),
		changed: make(chan struct{}), done: make(chan struct{}),
		regs: map[vmi.CPU]*vmi.Registers{}, armed: map[vmi.Breakpoint]bool{},
		fails: map[Op][]error{}, always: map[Op]error{}, hooks: map[Op]func(Call) error{},
	}
	if t.name == "" {
		t.name = "fake"
	}
	if len(t.cpus) == 0 {
		t.cpus = []vmi.CPU{{Pid: 1, Tid: 1}}
	}
	if cfg.Capabilities != nil {
		t.caps = *cfg.Capabilities
	} else {
		c, err := vmi.CapabilitiesFor(vmi.AccelTCG, false)
		if err != nil {
			return nil, err
		}
		t.caps = c
	}
	n := cfg.Events
	if n <= 0 {
		n = 256
	}
	t.events = make(chan vmi.Event, n)
	ram := cfg.RAM
	if ram == 0 {
		ram = 64 << 20
	}
	t.mem.add(0, ram)
	for _, c := range t.cpus {
		r, err := Registers(c, nil)
		if err != nil {
			return nil, err
		}
		t.regs[c] = r
	}
	t.running = cfg.Running
	if !t.running {
		// An opened Target leaves the guest stopped in the stop its
		// interrupt made.
		t.stop = t.newStop(t.cpus[0], vmi.SignalInt)
	}
	return t, nil
}

// Name says which guest this is.
func (t *Target) Name() string { return t.name }

// Capabilities are the ones configured.
func (t *Target) Capabilities() vmi.Capabilities { return t.caps }

// Events delivers the unasked-for stops and the lifecycle events.
func (t *Target) Events() <-chan vmi.Event { return t.events }

// newStop makes the next stop of cpu, with its registers. t.mu is held.
func (t *Target) newStop(cpu vmi.CPU, sig int) *vmi.Stop {
	t.seq++
	s := &vmi.Stop{Seq: t.seq, Signal: sig, Thread: cpu, Raw: fmt.Sprintf("T%02xthread:p%x.%x;", sig, cpu.Pid, cpu.Tid)}
	if r, ok := t.regs[cpu]; ok {
		s.Registers = r.Clone()
	}
	return s
}

// changedLocked wakes the waiters. t.mu is held.
func (t *Target) changedLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// emit queues an event; t.mu is held. deliver sends it once t.mu is let go.
func (t *Target) emit(kind vmi.EventKind, stop *vmi.Stop, err error, reason string) {
	t.pending = append(t.pending, vmi.Event{Kind: kind, Time: time.Now(), Stop: stop, Err: err, Reason: reason})
}

// deliver sends the queued events in order. It blocks while the consumer
// lags (as the real Target's pump does), until Close.
func (t *Target) deliver() {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	for {
		t.mu.Lock()
		if len(t.pending) == 0 {
			t.mu.Unlock()
			return
		}
		e := t.pending[0]
		t.pending = t.pending[1:]
		t.mu.Unlock()
		if t.eventsClosed {
			continue
		}
		select {
		case t.events <- e:
		case <-t.done:
			continue
		}
		if e.Kind == vmi.EventGone {
			// No more events follow the connection's end.
			close(t.events)
			t.eventsClosed = true
		}
	}
}

// begin records a call and applies the failures and hooks for it; it
// returns the error the call must fail with, if any. t.mu is not held.
func (t *Target) begin(c Call) error {
	t.mu.Lock()
	h := t.hooks[c.Op]
	t.mu.Unlock()
	var hookErr error
	if h != nil {
		hookErr = h(c)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	err := hookErr
	if err == nil {
		if q := t.fails[c.Op]; len(q) > 0 {
			err, t.fails[c.Op] = q[0], q[1:]
		} else if e := t.always[c.Op]; e != nil {
			err = e
		} else if t.gone {
			err = fmt.Errorf("vmitest: %s: %w", c.Op, vmi.ErrClosed)
		}
	}
	if err != nil {
		c.Err = err
		t.calls = append(t.calls, c)
		t.changedLocked()
	}
	return err
}

// record logs a call that went through (or failed on the guest's state).
// t.mu is held.
func (t *Target) record(c Call) {
	t.calls = append(t.calls, c)
	t.changedLocked()
}

// stoppedLocked fails op while the guest runs. t.mu is held.
func (t *Target) stoppedLocked(op Op) error {
	if t.running {
		return fmt.Errorf("vmitest: %s: %w", op, vmi.ErrRunning)
	}
	return nil
}

func (t *Target) knownLocked(cpu vmi.CPU) error {
	if _, ok := t.regs[cpu]; !ok {
		return fmt.Errorf("vmitest: no vCPU %v", cpu)
	}
	return nil
}

// Pause stops the guest and returns the stop; a stopped guest returns the
// stop it is in. A hit armed by RaceHit wins the race: its stop is
// returned and also delivered on Events.
func (t *Target) Pause(ctx context.Context) (*vmi.Stop, error) {
	if err := t.begin(Call{Op: OpPause}); err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.running {
		t.running = false
		if h := t.race; h != nil {
			t.race = nil
			t.setLocked(h.cpu, h.vals)
			t.stop = t.newStop(h.cpu, vmi.SignalTrap)
			t.emit(vmi.EventStop, t.stop, nil, "")
		} else {
			t.stop = t.newStop(t.cpus[0], vmi.SignalInt)
		}
	}
	s := t.stop
	t.record(Call{Op: OpPause})
	t.mu.Unlock()
	t.deliver()
	return s, nil
}

// Resume runs every vCPU.
func (t *Target) Resume(ctx context.Context) error {
	if err := t.begin(Call{Op: OpResume}); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Call{Op: OpResume}
	if c.Err = t.stoppedLocked(OpResume); c.Err == nil {
		t.running = true
	}
	t.record(c)
	return c.Err
}

// Running reports whether the guest runs, and the latest stop if not.
func (t *Target) Running() (bool, *vmi.Stop) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return true, nil
	}
	return false, t.stop
}

// Step executes one instruction on cpu: by default RIP moves on by one
// byte; OnStep says otherwise.
func (t *Target) Step(ctx context.Context, cpu vmi.CPU) (*vmi.Stop, error) {
	return t.step(Call{Op: OpStep, CPU: cpu})
}

// StepOver is Step past the breakpoints at, each of which must be armed
// (the real stub removes and re-inserts them); they stay armed.
func (t *Target) StepOver(ctx context.Context, cpu vmi.CPU, at ...vmi.Breakpoint) (*vmi.Stop, error) {
	return t.step(Call{Op: OpStepOver, CPU: cpu, Over: slices.Clone(at)})
}

func (t *Target) step(c Call) (*vmi.Stop, error) {
	if err := t.begin(c); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c.Err = t.stoppedLocked(c.Op)
	if c.Err == nil {
		c.Err = t.knownLocked(c.CPU)
	}
	for _, bp := range c.Over {
		if c.Err == nil && !t.armed[normalized(bp)] {
			c.Err = fmt.Errorf("vmitest: stepping over %v, which is not armed", bp)
		}
	}
	if c.Err != nil {
		t.record(c)
		return nil, c.Err
	}
	r := t.regs[c.CPU]
	if t.onStep != nil {
		t.onStep(c.CPU, r)
	} else {
		rip, _ := r.Uint("rip")
		_ = r.SetUint("rip", rip+1)
	}
	t.stop = t.newStop(c.CPU, vmi.SignalTrap)
	t.record(c)
	return t.stop, nil
}

// CPUs lists the vCPUs.
func (t *Target) CPUs(ctx context.Context) ([]vmi.CPU, error) {
	if err := t.begin(Call{Op: OpCPUs}); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.record(Call{Op: OpCPUs})
	return slices.Clone(t.cpus), nil
}

// Registers reads cpu's register file; the guest must be stopped.
func (t *Target) Registers(ctx context.Context, cpu vmi.CPU) (*vmi.Registers, error) {
	c := Call{Op: OpRegisters, CPU: cpu}
	if err := t.begin(c); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Err = t.stoppedLocked(c.Op); c.Err == nil {
		c.Err = t.knownLocked(cpu)
	}
	t.record(c)
	if c.Err != nil {
		return nil, c.Err
	}
	return t.regs[cpu].Clone(), nil
}

// SetRegisters writes cpu's register file; the guest must be stopped.
func (t *Target) SetRegisters(ctx context.Context, cpu vmi.CPU, regs *vmi.Registers) error {
	c := Call{Op: OpSetRegisters, CPU: cpu}
	if err := t.begin(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Err = t.stoppedLocked(c.Op); c.Err == nil {
		c.Err = t.knownLocked(cpu)
	}
	if c.Err == nil && regs == nil {
		c.Err = fmt.Errorf("vmitest: %s: no registers", c.Op)
	}
	if c.Err == nil {
		r := regs.Clone()
		r.Thread = cpu
		t.regs[cpu] = r
	}
	t.record(c)
	return c.Err
}

// ReadPhysical reads guest RAM, running or not.
func (t *Target) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	c := Call{Op: OpReadPhysical, GPA: gpa, Len: len(p)}
	if err := t.begin(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c.Err = t.mem.read(gpa, p)
	// Reads are many and rarely what a test asserts on: counted, not
	// logged, unless they fail.
	if c.Err != nil {
		t.record(c)
	}
	return c.Err
}

// WritePhysical writes guest RAM; the guest must be stopped.
func (t *Target) WritePhysical(ctx context.Context, gpa uint64, p []byte) error {
	c := Call{Op: OpWritePhysical, GPA: gpa, Len: len(p), Data: slices.Clone(p)}
	if err := t.begin(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Err = t.stoppedLocked(c.Op); c.Err == nil {
		c.Err = t.mem.write(gpa, p)
	}
	t.record(c)
	return c.Err
}

// normalized is a breakpoint as the stub keys it: size 0 means 1.
func normalized(bp vmi.Breakpoint) vmi.Breakpoint {
	if bp.Size == 0 {
		bp.Size = 1
	}
	return bp
}

func (t *Target) hardwareArmedLocked() int {
	n := 0
	for bp := range t.armed {
		if bp.Kind == vmi.HardwareBreakpoint {
			n++
		}
	}
	return n
}

// InsertBreakpoint arms bp, checked against the Capabilities; the guest
// must be stopped (QEMU's stub takes no packet while it runs).
func (t *Target) InsertBreakpoint(ctx context.Context, bp vmi.Breakpoint) error {
	c := Call{Op: OpInsert, Breakpoint: bp}
	if err := t.begin(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Err = t.stoppedLocked(c.Op); c.Err == nil {
		c.Err = t.checkLocked(bp)
	}
	if c.Err == nil {
		t.armed[normalized(bp)] = true
	}
	t.record(c)
	return c.Err
}

// checkLocked is what the real Target checks before it sends a Z packet.
func (t *Target) checkLocked(bp vmi.Breakpoint) error {
	refuse := func(reason string) error {
		return &vmi.CapabilityError{Kind: bp.Kind, Accel: t.caps.Accel, Reason: reason}
	}
	switch bp.Kind {
	case vmi.SoftwareBreakpoint:
		if !t.caps.Software {
			return refuse("software breakpoints are not allowed (vmitest)")
		}
	case vmi.HardwareBreakpoint:
		if !t.caps.Hardware {
			return refuse("hardware breakpoints are not available (vmitest)")
		}
		if n := t.hardwareArmedLocked(); t.caps.HardwareSlots > 0 && n >= t.caps.HardwareSlots && !t.armed[normalized(bp)] {
			return &vmi.BreakpointError{Op: "insert", Breakpoint: bp, Err: fmt.Errorf("%d of %d debug registers in use: %w", n, t.caps.HardwareSlots, vmi.ErrSlotsExhausted)}
		}
	case vmi.WriteWatchpoint, vmi.ReadWatchpoint, vmi.AccessWatchpoint:
		if !t.caps.Watchpoints {
			return refuse("watchpoints are not available (vmitest)")
		}
	default:
		return fmt.Errorf("vmitest: unknown breakpoint kind %d", int(bp.Kind))
	}
	return nil
}

// RemoveBreakpoint disarms bp; removing one that is not armed succeeds, as
// QEMU's z does. The guest must be stopped.
func (t *Target) RemoveBreakpoint(ctx context.Context, bp vmi.Breakpoint) error {
	c := Call{Op: OpRemove, Breakpoint: bp}
	if err := t.begin(c); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.Err = t.stoppedLocked(c.Op); c.Err == nil {
		delete(t.armed, normalized(bp))
	}
	t.record(c)
	return c.Err
}

// Close leaves the guest running and clean: every breakpoint removed, the
// guest resumed, Events closed. It is safe to call more than once.
func (t *Target) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed, t.gone = true, true
	clear(t.armed)
	t.running = true
	t.record(Call{Op: OpClose})
	t.mu.Unlock()
	close(t.done)
	t.sendMu.Lock()
	if !t.eventsClosed {
		close(t.events)
		t.eventsClosed = true
	}
	t.sendMu.Unlock()
	return nil
}

// PhysicalMap lists guest RAM, as vmi.PhysicalMapper does.
func (t *Target) PhysicalMap() []vmi.PhysicalRange {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mem.ranges()
}

// setLocked sets registers of cpu by name, names checked by checkNames
// first. t.mu is held.
func (t *Target) setLocked(cpu vmi.CPU, vals map[string]uint64) {
	r := t.regs[cpu]
	for _, name := range slices.Sorted(maps.Keys(vals)) {
		_ = r.SetUint(name, vals[name])
	}
}

// checkNames fails on a register name the register file does not have.
func checkNames(vals map[string]uint64) error {
	_, err := Registers(vmi.CPU{Pid: 1, Tid: 1}, vals)
	return err
}
