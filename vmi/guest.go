package vmi

import (
	"context"
	"fmt"
	"sync"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// guest is the Target both implementations share: the gdbstub client
// (control plane), physmem (data plane), QEMU's monitor, and the pumps that
// turn stops and lifecycle events into Events. The implementations differ
// only in how they reach QEMU, where lifecycle events come from and how to
// tell QEMU is gone, which they hand in as a backend.
type guest struct {
	name string
	gdb  *gdbstub.Client
	stub stubEndpoint // where gdb connects, for Close's fallback
	mem  *physmem.Memory
	mon  *qmp.Monitor
	caps Capabilities

	// ctlMu serializes the calls that make the guest stop or move (Pause,
	// Resume, Step, StepOver), so that the stop a call produces can be
	// told from one nobody asked for; see claims.
	ctlMu  sync.Mutex
	claims claims

	events chan Event
	emitMu sync.Mutex
	// eventsClosed: after Gone or Close nothing more is sent.
	eventsClosed bool
	shutdown     chan struct{} // closed once EventShutdown was emitted
	shutdownOnce sync.Once

	ctx    context.Context // ends at Close: stops the pumps
	cancel context.CancelFunc
	done   chan struct{} // closed at Close
	pumps  sync.WaitGroup

	back backend

	// hint wakes the reconciler (see outside.go); hintWhy is the latest
	// hint's source, for the event's Reason.
	hint    chan struct{}
	hintMu  sync.Mutex
	hintWhy string

	closeOnce sync.Once
	closeErr  error
}

// lifecycleSource feeds lifecycle events to emit until its input ends
// (then it returns) or ctx ends.
type lifecycleSource func(ctx context.Context, emit func(Event))

// backend is what differs between the implementations: where lifecycle
// events come from, whether QEMU is still there, and what to free.
type backend struct {
	life lifecycleSource
	// alive reports whether QEMU still runs, when the stub's connection
	// has ended: Close then still owes the guest a clean detach.
	alive func(ctx context.Context) bool
	// release frees what the implementation holds besides the stub and
	// memory (the QMP client, the libvirt attachment), after the detach.
	release func(ctx context.Context) error
}

// eventBuffer is how many events wait for the consumer. The sources are
// bounded by nature: a stop waits for someone to resume the guest before
// the next, and resets and shutdowns are rare. A full buffer holds the
// source back rather than dropping a stop.
const eventBuffer = 64

// newGuest starts the pumps of an attached guest; attached is the stop
// Attach returned, which is the caller's and not an event.
func newGuest(ep stubEndpoint, gdb *gdbstub.Client, mem *physmem.Memory, caps Capabilities, attached *Stop, back backend) *guest {
	ctx, cancel := context.WithCancel(context.Background())
	g := &guest{
		name: ep.name, gdb: gdb, stub: ep, mem: mem, mon: ep.mon, caps: caps,
		events:   make(chan Event, eventBuffer),
		shutdown: make(chan struct{}),
		ctx:      ctx, cancel: cancel,
		done: make(chan struct{}),
		back: back,
		hint: make(chan struct{}, 1),
	}
	var after uint64
	if attached != nil {
		after = attached.Seq
	}
	lifeDone := make(chan struct{})
	// The owner has the guest now: a stop our own request causes on a
	// guest resumed behind our back is to be undone from here on.
	gdb.RestoreStrays(true)
	g.pumps.Add(4)
	go func() {
		defer g.pumps.Done()
		g.reconcileLoop()
	}()
	go func() {
		defer g.pumps.Done()
		g.pumpStops(after)
	}()
	go func() {
		defer g.pumps.Done()
		defer close(lifeDone)
		if back.life != nil {
			back.life(ctx, g.emitLifecycle)
		}
	}()
	go func() {
		defer g.pumps.Done()
		g.watchGone(lifeDone)
	}()
	return g
}

func (g *guest) Name() string { return g.name }

func (g *guest) Capabilities() Capabilities { return g.caps }

func (g *guest) Events() <-chan Event { return g.events }

func (g *guest) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("vmi: %s: %s: %w", g.name, op, err)
}

func (g *guest) Running() (bool, *Stop) {
	st, stop := g.gdb.State()
	if st == gdbstub.StateRunning {
		return true, nil
	}
	return false, stop
}

func (g *guest) CPUs(ctx context.Context) ([]CPU, error) {
	cpus, err := g.gdb.Threads(ctx)
	return cpus, g.wrap("listing vCPUs", err)
}

func (g *guest) Registers(ctx context.Context, cpu CPU) (*Registers, error) {
	regs, err := g.gdb.Registers(ctx, cpu)
	return regs, g.wrap("reading the registers of vCPU "+cpu.String(), err)
}

func (g *guest) SetRegisters(ctx context.Context, cpu CPU, regs *Registers) error {
	if regs == nil {
		return fmt.Errorf("vmi: %s: SetRegisters of vCPU %v without registers", g.name, cpu)
	}
	return g.wrap("writing the registers of vCPU "+cpu.String(), g.gdb.SetRegisters(ctx, cpu, regs))
}

func (g *guest) ReadPhysical(ctx context.Context, gpa uint64, p []byte) error {
	return g.mem.ReadPhysical(ctx, gpa, p)
}

// WritePhysical refuses anything but guest RAM before sending a byte:
// QEMU's physical mode would write MMIO or drop the bytes silently, where
// a read through physmem fails.
func (g *guest) WritePhysical(ctx context.Context, gpa uint64, p []byte) error {
	if err := g.checkRAM(gpa, uint64(len(p))); err != nil {
		return err
	}
	n, err := g.gdb.WritePhysical(ctx, gpa, p)
	if err != nil {
		return fmt.Errorf("vmi: %s: writing %d bytes at GPA %#x (%d written): %w", g.name, len(p), gpa, n, err)
	}
	return nil
}

// checkRAM fails with a *physmem.NotRAMError if [gpa, gpa+n) leaves guest
// RAM.
func (g *guest) checkRAM(gpa, n uint64) error {
	if n > 0 && n-1 > ^uint64(0)-gpa {
		return fmt.Errorf("vmi: %s: %d bytes at GPA %#x go past the top of the address space", g.name, n, gpa)
	}
	gm := g.mem.Map()
	for n > 0 {
		_, run, err := gm.Translate(gpa)
		if err != nil {
			return err
		}
		run = min(run, n)
		gpa, n = gpa+run, n-run
	}
	return nil
}

func (g *guest) InsertBreakpoint(ctx context.Context, bp Breakpoint) error {
	return g.wrap("inserting a breakpoint", g.gdb.InsertBreakpoint(ctx, bp))
}

func (g *guest) RemoveBreakpoint(ctx context.Context, bp Breakpoint) error {
	return g.wrap("removing a breakpoint", g.gdb.RemoveBreakpoint(ctx, bp))
}

var _ Target = (*guest)(nil)
