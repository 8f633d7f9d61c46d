package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
)

// Config is what every session of one frostd shares.
type Config struct {
	// Symbols is the symbol store (_NT_SYMBOL_PATH); nil: nothing
	// Windows-specific can be found (ErrNoSymbols).
	Symbols *store.Store
	// DataDir holds a directory per VM of its paging files and mapped
	// files (DataDir/<vm>/pagefiles, DataDir/<vm>/files); "" for none.
	DataDir string
	// Log gets what the sessions do on their own (a failed release, a
	// kernel found again after a reset); nil means slog.Default().
	Log *slog.Logger
	// StreamLimits bound the streams of guest memory open at once (zero
	// fields: DefaultStreamLimits); read once, at the first stream.
	StreamLimits StreamLimits

	shared *shared // made on first use (sharedOf); copies of c share it
}

func (c *Config) log() *slog.Logger {
	if c == nil || c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// Session is one attached VM and everything Frost holds of it.
type Session struct {
	Name, UUID string
	// Target is the guest. Run-state changes go through the session's
	// manager (Manager), never to the Target directly: the manager is
	// the one consumer of its events and must see every stop.
	Target vmi.Target
	Since  time.Time

	cfg *Config
	mgr *breakpoints.Manager
	k   kernelState
	cl  clients
	pl  leases
}

// kernelState is the VM's Windows kernel model, found on first use and
// kept until a reset: nt reads the guest afresh on every call, so only
// the finding is cached. found is the same, for readers that must not
// take mu (the manager's resolvers run while Kernel may hold mu and wait
// on the manager, pausing to find the kernel).
type kernelState struct {
	mu     sync.Mutex
	opened *nt.Opened
	found  atomic.Pointer[nt.Opened]
	// retired sums the counts of the kernel translators a reset or a new
	// kernel replaced, so the VM's translation counters never go down.
	retiredMu sync.Mutex
	retired   translate.Stats
	// running is the run state the manager last told (RunState), for a
	// translator made later.
	running atomic.Bool
	// missed is when a search found no Windows kernel, and why: later
	// calls get that answer without stopping the guest again (a guest
	// that is not Windows would be paused on every refused call). A miss
	// in a vCPU that ran 64-bit code with paging is settled: it stands
	// until a reset or RetryKernel; an earlier one (firmware, a loader
	// not yet in long mode) stands for kernelRetry.
	missed        time.Time
	missedErr     error
	missedSettled bool

	// hw walks page tables as the processor does, for address spaces
	// named by a DTB while no Windows kernel is known.
	hw *translate.Translator
	// paging is what a stop of this boot said of CR4.LA57 (pagingUnknown
	// until one is seen): the bit cannot change while paging is on, so
	// one stop answers for the whole boot. A reset forgets it.
	paging atomic.Uint32
}

// New makes the session of an attached target and starts its breakpoint
// manager, which from now on is the only reader of the target's events
// and the one that pauses and resumes it. The guest is left as the
// target left it (an attach leaves it stopped).
func New(cfg *Config, name, uuid string, t vmi.Target) (*Session, error) {
	if t == nil {
		return nil, errors.New("session: nil target")
	}
	s := &Session{Name: name, UUID: uuid, Target: t, Since: time.Now(), cfg: cfg}
	running, _ := t.Running()
	s.k.running.Store(running)
	hw, err := translate.NewHardware(translate.HardwareConfig{Physical: vmi.ReaderAt(t)})
	if err != nil {
		return nil, fmt.Errorf("session: %s: %w", name, err)
	}
	s.k.hw = hw
	if running {
		hw.Resumed()
	}
	mgr, err := breakpoints.New(t, breakpoints.Options{
		Logger:    cfg.log().With("vm", name),
		Threads:   lateThreads{s},
		Translate: s.translatePhysical,
		RunState:  s.runState,
		Reset:     s.reset,
	})
	if err != nil {
		return nil, fmt.Errorf("session: starting the breakpoint manager of %s: %w", name, err)
	}
	s.mgr = mgr
	return s, nil
}

// Manager is the session's breakpoint manager: the owner of the guest's
// run state (Pause, Resume, Release), its breakpoints and subscriptions.
func (s *Session) Manager() *breakpoints.Manager { return s.mgr }

// Log is the session's logger.
func (s *Session) Log() *slog.Logger { return s.cfg.log().With("vm", s.Name) }

// Close lets the VM go: the manager removes every breakpoint and resumes
// the guest, then the target detaches (D;1). A guest is never left
// stopped by a failure here: the target's own Close falls back as far as
// QMP's cont.
func (s *Session) Close(ctx context.Context) error {
	s.endLeases() // the guest is let go here; no lapse may touch it later
	if err := s.mgr.Close(ctx); err != nil {
		return errors.Join(err, s.Target.Close(ctx))
	}
	return s.Target.Close(ctx)
}

// Step executes one instruction on cpu. It goes through the session so
// the translator hears that the guest moved.
func (s *Session) Step(ctx context.Context, cpu vmi.CPU) (*vmi.Stop, error) {
	s.runState(true)
	stop, err := s.Target.Step(ctx, cpu)
	if running, _ := s.Target.Running(); !running {
		s.runState(false)
	}
	return stop, err
}
