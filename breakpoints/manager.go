package breakpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Options configure a Manager. The zero value works.
type Options struct {
	// Logger gets handler failures, filter errors and stub errors; nil
	// means slog.Default().
	Logger *slog.Logger
	// HandlerTimeout is a handler's deadline when its Spec sets none;
	// 0 means 2 s.
	HandlerTimeout time.Duration
	// FilterTimeout bounds each hit's thread resolution and each
	// observer's filter (predicates and translation read guest memory);
	// 0 means 500 ms.
	FilterTimeout time.Duration
	// OpTimeout bounds each call into the target (pause, insert, step,
	// resume); 0 means 10 s.
	OpTimeout time.Duration
	// Translate resolves virtual addresses for Frame.ReadVirtual,
	// Frame.WriteVirtual and BreakOnReturn's read of [rsp].
	Translate TranslateFunc
	// Threads names the guest thread at a hit. Without it, "the same
	// thread" (break-on-return, re-hit suppression) means the same vCPU
	// and address space.
	Threads ThreadResolver
	// RunState, if set, hears every change of the guest's run state the
	// manager sees or makes, in order, on the manager's loop: true just
	// before it resumes or steps the guest, and when someone outside
	// Frost resumed it; false at every stop it handles or makes (a hit,
	// a pause, the end of a step). The owner of a translator keeps it
	// coherent with it. It must not call back into the manager.
	RunState func(running bool)
	// Reset, if set, hears a guest reset (after the breakpoints were
	// dropped, before EventReset is published): the old boot's kernel is
	// gone. It must not call back into the manager.
	Reset func()
	// SuppressWindow is how long after an interrupted step-over a re-hit
	// at the same RIP, RSP and thread counts as the same call; 0 means
	// 1 s.
	SuppressWindow time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 2 * time.Second
	}
	if o.FilterTimeout <= 0 {
		o.FilterTimeout = 500 * time.Millisecond
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 10 * time.Second
	}
	if o.SuppressWindow <= 0 {
		o.SuppressWindow = time.Second
	}
}

// Manager owns one target's breakpoints and its event loop. Its methods
// are safe for concurrent use, from handlers too.
//
// One goroutine, the loop, does everything that touches the guest's run
// state: it is the single reader of Target.Events, and the other methods
// hand it requests. While it waits for a hit's handlers it keeps serving
// requests (the guest is stopped then), so a handler may add or remove
// breakpoints.
type Manager struct {
	t    vmi.Target
	opts Options
	log  *slog.Logger
	caps vmi.Capabilities

	reqs chan *request
	kick chan struct{}
	done chan struct{}
	// end is why the loop ended (ErrClosed or ErrGone), set before done
	// is closed.
	end error

	subsMu     sync.Mutex
	subs       map[*Subscription]struct{}
	subsClosed bool
	evSeq      atomic.Uint64

	// Owned by the loop.
	slots     map[uint64]*slot
	observers map[ID]*observer
	nextID    ID
	hwUsed    int
	lastSeq   uint64 // the newest stop handled
	inHit     bool   // the guest is stopped at a hit being handled
	held      bool   // the operator paused the guest (Pause)
	pending   *Hit   // a hit handled while held: step over it at Resume
	suppress  *suppression
	removed   map[uint64]time.Time // recently disarmed addresses
	lastReset time.Time            // the target's time of the last reset
	closing   bool
	finished  bool

	// stats are counters for metrics (stats.go).
	stats stats
}

// New starts managing t: from now on the manager is the only reader of
// t.Events(). It leaves the guest as it finds it: a target just opened is
// stopped by the attach, so arm what must be there from the start, then
// Resume. It does not close t.
func New(t vmi.Target, opts Options) (*Manager, error) {
	if t == nil {
		return nil, errors.New("breakpoints: nil target")
	}
	opts.defaults()
	m := &Manager{
		t:         t,
		opts:      opts,
		log:       opts.Logger.With("guest", t.Name()),
		caps:      t.Capabilities(),
		reqs:      make(chan *request),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		subs:      map[*Subscription]struct{}{},
		slots:     map[uint64]*slot{},
		observers: map[ID]*observer{},
		removed:   map[uint64]time.Time{},
	}
	go m.loop()
	return m, nil
}

// request is a call run by the loop.
type request struct {
	fn   func()
	done chan struct{}
}

// do runs fn on the loop and waits for it. ctx bounds only the wait for
// the loop to take the request: once taken, fn runs to its end (each
// target call in it is bounded by OpTimeout).
func (m *Manager) do(ctx context.Context, fn func()) error {
	r := &request{fn: fn, done: make(chan struct{})}
	select {
	case m.reqs <- r:
	case <-m.done:
		return m.end
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done
	return nil
}

func (m *Manager) run(r *request) {
	defer close(r.done)
	r.fn()
}

// runState tells the owner's RunState hook, if any.
func (m *Manager) runState(running bool) {
	if m.opts.RunState != nil {
		m.opts.RunState(running)
	}
}

func (m *Manager) kickLoop() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.opts.OpTimeout)
}

func (m *Manager) loop() {
	defer close(m.done)
	events := m.t.Events()
	for !m.finished {
		select {
		case ev, ok := <-events:
			if !ok {
				m.gone(vmi.Event{Kind: vmi.EventGone, Time: time.Now(), Err: errors.New("event channel closed")})
				continue
			}
			m.onEvent(ev)
		case r := <-m.reqs:
			m.run(r)
		case <-m.kick:
			// An ack or a closed subscription with no hit waiting: stale.
		}
		if m.closing && !m.finished {
			m.shutdown()
		}
	}
}

func (m *Manager) onEvent(ev vmi.Event) {
	switch ev.Kind {
	case vmi.EventStop:
		if ev.Stop == nil {
			m.log.Warn("stop event without a stop", "err", ev.Err)
			return
		}
		m.handleStop(ev.Time, ev.Stop)
	case vmi.EventReset:
		m.reset(ev)
	case vmi.EventShutdown:
		m.publish(Event{Kind: EventShutdown, Time: ev.Time, Reason: ev.Reason, Err: ev.Err})
	case vmi.EventGone:
		m.gone(ev)
	case vmi.EventResumed:
		m.resumedOutside(ev)
	default:
		m.log.Warn("unknown target event", "kind", ev.Kind)
	}
}

// withStopped runs fn with the guest stopped and then leaves it running
// if it ran before. A stop that races the pause (a breakpoint hit) is
// handled here, after fn, and resumes the guest itself.
func (m *Manager) withStopped(fn func(ctx context.Context) error) error {
	ctx, cancel := m.opCtx()
	defer cancel()
	if m.inHit {
		return fn(ctx)
	}
	if running, _ := m.t.Running(); !running {
		return fn(ctx)
	}
	stop, err := m.t.Pause(ctx)
	if err != nil {
		return fmt.Errorf("breakpoints: pausing %s: %w", m.t.Name(), err)
	}
	m.runState(false)
	ferr := fn(ctx)
	if stop != nil && stop.Seq > m.lastSeq && stop.Signal != sigInt {
		m.handleStop(time.Now(), stop)
	} else {
		m.resume()
	}
	return ferr
}

// resume runs the guest unless its operator holds it. A failure is
// logged, and returned for callers that answer someone (Resume); the run
// state told to the owner goes back to stopped.
func (m *Manager) resume() error {
	if m.held {
		return nil
	}
	if running, _ := m.t.Running(); running {
		return nil // someone else resumed it (an operator, a race): nothing to do
	}
	ctx, cancel := m.opCtx()
	defer cancel()
	m.runState(true)
	if err := m.t.Resume(ctx); err != nil {
		if errors.Is(err, vmi.ErrRunning) {
			// It runs already (resumed from outside since the run
			// state was last heard): what was asked for, not a failure.
			m.log.Debug("resume: the guest already runs")
			return nil
		}
		m.log.Error("resuming the guest failed", "err", err)
		if running, _ := m.t.Running(); !running {
			m.runState(false)
		}
		return fmt.Errorf("breakpoints: resuming %s: %w", m.t.Name(), err)
	}
	return nil
}
