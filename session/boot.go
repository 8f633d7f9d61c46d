package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/frostvmi/frost/winboot"
)

// A boot is frostd's, not its client's: it starts a domain paused, and a
// boot cut short by a client that left (^C, a dropped connection) would
// leave the domain paused and unconfigured. So a boot runs as a job with
// a context of its own and records its steps; clients only watch it, and
// the latest job of each domain stays readable after it ends, until the
// process exits or the domain is booted again.

// ErrBootInProgress: a boot of that domain is running.
var ErrBootInProgress = errors.New("a boot of this domain is in progress")

// Booter boots domains under Frost's control into a registry.
type Booter struct {
	Config   *Config
	Registry *Registry
	// Start boots a defined, shut-off domain, its vCPUs stopped when
	// paused; Attach takes hold of it; Resume lets a domain started
	// paused run when nobody could take hold of it.
	Start  func(ctx context.Context, name string, paused bool) error
	Attach AttachFunc
	Resume func(ctx context.Context, name string) error

	mu   sync.Mutex
	jobs map[string]*BootJob
}

// BootRequest is what to boot and how.
type BootRequest struct {
	Name, UUID string
	// Winboot runs winboot: no paging file, WinPE's in-RAM mode.
	Winboot bool
	// Deadline bounds each of winboot's waits: for the kernel to be
	// mapped, then for csrss.exe; 0: winboot's defaults (10 and 30
	// minutes). A guest that is not Windows ends the boot with an error
	// once the first passes, and is left running.
	Deadline time.Duration
}

// Boot stages of the job itself; winboot's steps carry winboot's stages.
const (
	StageAccepted = "accepted" // the job runs to its end from here
	StageStarting = "starting" // libvirt started the domain paused
	StageAttached = "attached" // Frost holds it before its first instruction
	StageRunning  = "done"     // without winboot: resumed
)

// BootStep is one recorded step.
type BootStep struct {
	Time    time.Time
	Stage   string // StageAccepted...; or winboot.Step's Stage
	Message string
}

// BootResult is how a boot ended.
type BootResult struct {
	Name              string
	Winboot           bool
	Started, Finished time.Time
	// Report is winboot's (nil without winboot, or when it never ran).
	Report *winboot.Report
	// Err is why the boot failed; nil with Report's verdict otherwise.
	Err error
	// Success: the boot did everything it set out to do.
	Success bool
}

// BootJob is one boot, running or ended.
type BootJob struct {
	name string

	mu      sync.Mutex
	steps   []BootStep
	dropped int
	result  *BootResult
	changed chan struct{} // closed and replaced at each new step or the end
}

// maxBootSteps bounds a job's record: winboot sends a few dozen steps,
// but a guest that resets in a loop must cost bounded memory.
const maxBootSteps = 1000

// Boot takes on a boot of req.Name: it records the job and starts it, and
// returns at once. The caller checked the domain (shut off, not attached).
func (b *Booter) Boot(req BootRequest) (*BootJob, error) {
	b.mu.Lock()
	if j := b.jobs[req.Name]; j != nil && !j.Ended() {
		b.mu.Unlock()
		return nil, ErrBootInProgress
	}
	if b.jobs == nil {
		b.jobs = map[string]*BootJob{}
	}
	// The domain is written down as paused before it is started paused:
	// a crash at any point after leaves it to the guard or the next
	// frostd, never `paused (user)` with nobody knowing. Without a
	// working record the boot is refused.
	var end func()
	if b.Registry != nil {
		var err error
		if end, err = b.Registry.BeginHold(Hold{VM: req.Name, Kind: HoldPaused}); err != nil {
			b.mu.Unlock()
			return nil, err
		}
	}
	j := &BootJob{name: req.Name, changed: make(chan struct{})}
	b.jobs[req.Name] = j
	b.mu.Unlock()
	j.step(StageAccepted, "frostd runs this boot to its end, whatever the client does")
	go func() {
		r := &BootResult{Name: req.Name, Winboot: req.Winboot, Started: time.Now()}
		b.run(j, req, r)
		if end != nil {
			end()
		}
		r.Finished = time.Now()
		log := b.Config.log().With("vm", req.Name)
		if r.Err != nil {
			log.Warn("boot ended with an error", "error", r.Err)
		} else {
			log.Info("boot ended", "success", r.Success)
		}
		j.finish(r)
	}()
	return j, nil
}

// Latest is the latest boot of name, or nil.
func (b *Booter) Latest(name string) *BootJob {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jobs[name]
}

// run is the boot itself: start paused, attach, then resume or winboot.
// It never leaves the domain started paused with nobody holding it, and
// owns its context: no client can cut it short.
func (b *Booter) run(j *BootJob, req BootRequest, r *BootResult) {
	ctx := context.Background()
	name := req.Name
	if err := b.Start(ctx, name, true); err != nil {
		r.Err = fmt.Errorf("starting %s: %w", name, err)
		return
	}
	j.step(StageStarting, "started paused")
	t, err := b.Attach(ctx, name)
	if err != nil {
		// Nobody holds the domain: let it run rather than leave it
		// paused in libvirt, unconfigured, and say so.
		if b.Resume != nil {
			if rerr := b.Resume(ctx, name); rerr != nil {
				b.Config.log().Error("resuming a domain Boot could not attach to", "vm", name, "error", rerr)
			}
		}
		r.Err = fmt.Errorf("attaching to %s (the domain was let run unconfigured): %w", name, err)
		return
	}
	s, err := New(b.Config, name, req.UUID, t)
	if err != nil {
		// Without a session nobody holds the guest: the target's Close
		// lets it run (detach, or QMP cont).
		_ = t.Close(ctx)
		r.Err = fmt.Errorf("taking charge of %s (the guest was let run unconfigured): %w", name, err)
		return
	}
	if err := b.Registry.Add(s); err != nil {
		_ = s.Close(ctx)
		r.Err = err
		return
	}
	j.step(StageAttached, "attached before the first instruction")
	mgr := s.Manager()
	if !req.Winboot {
		if err := mgr.Resume(ctx); err != nil {
			r.Err = fmt.Errorf("resuming %s: %w", name, err)
			return
		}
		j.step(StageRunning, "running")
		r.Success = true
		return
	}
	// winboot drives the guest through the session's manager, which
	// stays the VM's: it names threads and translates frames through the
	// kernel once the session has found it.
	rep, err := winboot.Run(ctx, s.Target, mgr, winboot.Options{
		Symbols: b.Config.Symbols, FindTimeout: req.Deadline, FinishTimeout: req.Deadline, Logger: s.Log(),
		Progress: func(st winboot.Step) { j.step(st.Stage, st.Message, st.Time) },
	})
	r.Report, r.Err = rep, err
	r.Success = err == nil && rep != nil && rep.Success()
}

// step records one step (at now, unless a time is given).
func (j *BootJob) step(stage, msg string, at ...time.Time) {
	st := BootStep{Time: time.Now(), Stage: stage, Message: msg}
	if len(at) > 0 && !at[0].IsZero() {
		st.Time = at[0]
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.result != nil {
		return
	}
	if len(j.steps) >= maxBootSteps {
		j.dropped++
		return
	}
	j.steps = append(j.steps, st)
	close(j.changed)
	j.changed = make(chan struct{})
}

func (j *BootJob) finish(r *BootResult) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.result = r
	close(j.changed)
	j.changed = make(chan struct{})
}

// Ended says whether the boot has ended.
func (j *BootJob) Ended() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.result != nil
}

// Watch calls step for each recorded step from the first on, then, with
// follow, for each new one, and result once the boot has ended. It returns
// early only when a callback fails or ctx ends (the watcher left); the
// boot goes on.
func (j *BootJob) Watch(ctx context.Context, follow bool, step func(BootStep) error, result func(*BootResult) error) error {
	next := 0
	for {
		j.mu.Lock()
		steps, r, changed := j.steps[next:], j.result, j.changed
		j.mu.Unlock()
		for _, st := range steps {
			if err := step(st); err != nil {
				return err
			}
			next++
		}
		if r != nil {
			return result(r)
		}
		if !follow {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}
