package breakpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

var (
	cpu1 = vmi.CPU{Pid: 1, Tid: 1}
	cpu2 = vmi.CPU{Pid: 1, Tid: 2}
)

// fakeTarget is an all-stop guest in memory: hits are made by the test
// (hit), and it records what the manager did to it.
type fakeTarget struct {
	t      *testing.T
	caps   vmi.Capabilities
	events chan vmi.Event

	mu      sync.Mutex
	changed *sync.Cond
	running bool
	seq     uint64
	stop    *vmi.Stop
	regs    map[vmi.CPU]*vmi.Registers
	armed   map[vmi.Breakpoint]bool
	mem     map[uint64]byte
	inserts int
	resumes int
	steps   []vmi.CPU
	// stubSlots makes the stub refuse a Z1 beyond this many (E22), as
	// QEMU under KVM does; 0: no stub-side limit.
	stubSlots int
	// raceHit, when set, makes the next Pause of a running guest find it
	// stopped at that breakpoint instead: the stop is returned and also
	// sent on Events, as vmi.Target does.
	raceHit map[string]uint64
	// onStep, when set, decides where a step-over lands.
	onStep func(cpu vmi.CPU, regs *vmi.Registers)
	// pauseErr, when set, fails the next Pause, the guest left as it is.
	pauseErr error
	closed   bool
}

func newFake(t *testing.T, caps vmi.Capabilities) *fakeTarget {
	f := &fakeTarget{
		t: t, caps: caps, events: make(chan vmi.Event, 16), running: true,
		regs:  map[vmi.CPU]*vmi.Registers{},
		armed: map[vmi.Breakpoint]bool{}, mem: map[uint64]byte{},
	}
	f.changed = sync.NewCond(&f.mu)
	for _, c := range []vmi.CPU{cpu1, cpu2} {
		f.regs[c] = regsWith(t, c, map[string]uint64{"eflags": eflagsIF})
	}
	return f
}

func tcgCaps() vmi.Capabilities {
	c, _ := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	return c
}

func (f *fakeTarget) Name() string { return "fake" }

func (f *fakeTarget) newStop(cpu vmi.CPU, sig int) *vmi.Stop {
	f.seq++
	return &vmi.Stop{Seq: f.seq, Signal: sig, Thread: cpu, Registers: f.regs[cpu].Clone(), Raw: fmt.Sprintf("T%02x", sig)}
}

func (f *fakeTarget) Pause(ctx context.Context) (*vmi.Stop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.pauseErr; err != nil {
		f.pauseErr = nil
		return nil, err
	}
	if f.running && f.raceHit != nil {
		for name, v := range f.raceHit {
			f.regs[cpu1].SetUint(name, v)
		}
		f.raceHit = nil
		f.running = false
		f.stop = f.newStop(cpu1, gdbstub.SignalTrap)
		f.events <- vmi.Event{Kind: vmi.EventStop, Time: time.Now(), Stop: f.stop}
		return f.stop, nil
	}
	if f.running {
		f.running = false
		f.stop = f.newStop(cpu1, gdbstub.SignalInt)
		f.changed.Broadcast()
	}
	return f.stop, nil
}

func (f *fakeTarget) Resume(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running {
		return fmt.Errorf("resume: %w", gdbstub.ErrRunning)
	}
	f.running = true
	f.resumes++
	f.changed.Broadcast()
	return nil
}

func (f *fakeTarget) Running() (bool, *vmi.Stop) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.stop
}

func (f *fakeTarget) stopped(op string) error {
	if f.running {
		return fmt.Errorf("%s: %w", op, gdbstub.ErrRunning)
	}
	return nil
}

func (f *fakeTarget) Step(ctx context.Context, cpu vmi.CPU) (*vmi.Stop, error) {
	return f.StepOver(ctx, cpu)
}

func (f *fakeTarget) StepOver(ctx context.Context, cpu vmi.CPU, at ...vmi.Breakpoint) (*vmi.Stop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("step"); err != nil {
		return nil, err
	}
	for _, bp := range at {
		if !f.armed[bp] {
			f.t.Errorf("step over %v, which is not armed", bp)
		}
	}
	f.steps = append(f.steps, cpu)
	r := f.regs[cpu]
	if f.onStep != nil {
		f.onStep(cpu, r)
	} else {
		rip, _ := r.Uint("rip")
		r.SetUint("rip", rip+1)
	}
	f.stop = f.newStop(cpu, gdbstub.SignalTrap)
	return f.stop, nil
}

func (f *fakeTarget) CPUs(ctx context.Context) ([]vmi.CPU, error) { return []vmi.CPU{cpu1, cpu2}, nil }

func (f *fakeTarget) Registers(ctx context.Context, cpu vmi.CPU) (*vmi.Registers, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("registers"); err != nil {
		return nil, err
	}
	return f.regs[cpu].Clone(), nil
}

func (f *fakeTarget) SetRegisters(ctx context.Context, cpu vmi.CPU, regs *vmi.Registers) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("set registers"); err != nil {
		return err
	}
	f.regs[cpu] = regs.Clone()
	return nil
}

func (f *fakeTarget) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range p {
		p[i] = f.mem[gpa+uint64(i)]
	}
	return nil
}

func (f *fakeTarget) WritePhysical(ctx context.Context, gpa uint64, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("write"); err != nil {
		return err
	}
	for i, b := range p {
		f.mem[gpa+uint64(i)] = b
	}
	return nil
}

func (f *fakeTarget) hardwareArmed() int {
	n := 0
	for bp := range f.armed {
		if bp.Kind == gdbstub.Hardware {
			n++
		}
	}
	return n
}

func (f *fakeTarget) InsertBreakpoint(ctx context.Context, bp vmi.Breakpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("insert"); err != nil {
		return err
	}
	switch {
	case bp.Kind == gdbstub.Software && !f.caps.Software:
		return &gdbstub.CapabilityError{Kind: bp.Kind, Accel: f.caps.Accel, Reason: "refused"}
	case bp.Kind == gdbstub.Hardware && f.caps.HardwareSlots > 0 && f.hardwareArmed() >= f.caps.HardwareSlots:
		return fmt.Errorf("fake: %w", gdbstub.ErrSlotsExhausted)
	case bp.Kind == gdbstub.Hardware && f.stubSlots > 0 && f.hardwareArmed() >= f.stubSlots:
		return &gdbstub.BreakpointError{Op: "insert", Breakpoint: bp, Err: gdbstub.ErrSlotsExhausted}
	}
	f.inserts++
	f.armed[bp] = true
	return nil
}

func (f *fakeTarget) RemoveBreakpoint(ctx context.Context, bp vmi.Breakpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.stopped("remove"); err != nil {
		return err
	}
	delete(f.armed, bp)
	return nil
}

func (f *fakeTarget) Capabilities() vmi.Capabilities { return f.caps }
func (f *fakeTarget) Events() <-chan vmi.Event       { return f.events }

func (f *fakeTarget) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.events)
	}
	return nil
}

// hit makes the running guest stop on cpu at rip with the given registers
// and reports it as the stub would. It waits until the guest runs, so
// hits are sequential like a real guest's.
func (f *fakeTarget) hit(cpu vmi.CPU, vals map[string]uint64) *vmi.Stop {
	f.t.Helper()
	f.waitRunning()
	f.mu.Lock()
	r := f.regs[cpu]
	for name, v := range vals {
		if err := r.SetUint(name, v); err != nil {
			f.t.Fatal(err)
		}
	}
	f.running = false
	f.stop = f.newStop(cpu, gdbstub.SignalTrap)
	stop := f.stop
	f.changed.Broadcast()
	f.mu.Unlock()
	f.events <- vmi.Event{Kind: vmi.EventStop, Time: time.Now(), Stop: stop}
	return stop
}

// waitFor waits until cond (called with f.mu held) holds, or fails the
// test after a generous deadline: the manager's work is bounded, so a
// guest that stays stopped is a bug.
func (f *fakeTarget) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
		f.mu.Lock()
	}
}

func (f *fakeTarget) waitRunning() {
	f.t.Helper()
	f.waitFor("the guest to run", func() bool { return f.running })
}

// settle waits until the guest runs again after stop: the manager has
// finished with it.
func (f *fakeTarget) settle(stop *vmi.Stop) {
	f.t.Helper()
	f.waitFor("the guest to resume", func() bool { return f.running && f.seq >= stop.Seq })
}

func (f *fakeTarget) reg(cpu vmi.CPU, name string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.regs[cpu].Uint(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *fakeTarget) armedSet() map[vmi.Breakpoint]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.armed)
}

func (f *fakeTarget) counts() (resumes, steps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resumes, len(f.steps)
}

func (f *fakeTarget) insertCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inserts
}

// testLog sends the manager's log to the test's.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func newManagerLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newManager starts a manager on f and closes it with the test.
func newManager(t *testing.T, f *fakeTarget, opts Options) *Manager {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = newManagerLogger(t)
	}
	m, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const (
	kfn  = 0xfffff800_01234560 // a kernel function
	kfn2 = 0xfffff800_01234600
)
