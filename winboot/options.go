package winboot

import (
	"log/slog"
	"time"

	"github.com/frostvmi/frost/nt"
)

// DefaultPollInterval is how long the guest runs between two looks for
// ntoskrnl. A look costs one interrupt and one register read (about a
// millisecond under TCG, platform-facts.md); mini-NT's loader runs a few
// hundred milliseconds under TCG and its phase 0 much longer than one
// interval, so the kernel is found well before Phase1InitializationDiscard
// while the boot loses little time. docs/benchmarks.md has the measurement.
const DefaultPollInterval = 2 * time.Millisecond

// Options configure Run.
type Options struct {
	// Symbols loads ntoskrnl's PDB or ISF by its RSDS identity. Required.
	Symbols nt.SymbolLoader
	// PollInterval is the guest's run time between two looks for the
	// kernel; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// FindTimeout bounds the search for the kernel; 0 means 10 minutes.
	FindTimeout time.Duration
	// FinishTimeout bounds the wait for csrss.exe once armed; 0 means 30
	// minutes (a slow guest under TCG takes long, a stuck one forever).
	FinishTimeout time.Duration
	// WatchInterval is how often the process list is read, while the guest
	// runs, for csrss.exe; 0 means 20 ms.
	WatchInterval time.Duration
	// HandlerTimeout bounds winboot's breakpoint handlers; 0 means 2 s.
	HandlerTimeout time.Duration
	// Logger gets winboot's progress and problems; nil means slog.Default().
	Logger *slog.Logger
	// Progress, when set, is told each step as it happens. It must not
	// block: the guest may be stopped while it runs.
	Progress func(Step)
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.FindTimeout <= 0 {
		o.FindTimeout = 10 * time.Minute
	}
	if o.FinishTimeout <= 0 {
		o.FinishTimeout = 30 * time.Minute
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = 20 * time.Millisecond
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Step is one thing winboot did or saw, for progress streams.
type Step struct {
	Time time.Time
	// Boot counts the guest's boots from 1: a reset starts the next.
	Boot int
	// Stage names the step: "waiting", "kernel", "winpe", "armed",
	// "pagingfile", "phase1-enter", "phase1-return", "csrss", "reset",
	// "late", "problem", "done".
	Stage   string
	Message string
}
