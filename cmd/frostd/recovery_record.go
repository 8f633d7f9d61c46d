package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/frostvmi/frost/session"
)

// crashRecord is frostd's side of "the guest is never left frozen": the
// state file every hold is written into before it begins, the guard that
// is told the same, and the recovery at start of what a dead frostd held.
type crashRecord struct {
	state *session.StateFile
	link  *guardLink // nil with --no-guard
	lv    *libvirtSource
	log   *slog.Logger
	holds session.Holds // what a dead frostd left, to recover

	mu      sync.Mutex
	lastErr error
	health  func(error)
}

// openCrashRecord connects the guard (starting one if none answers, and
// waiting for a recovery it runs), reads what is left to recover, and
// writes the record once, so an unwritable file is known (and said in
// health) before the first attach.
func openCrashRecord(ctx context.Context, c *config, log *slog.Logger) *crashRecord {
	r := &crashRecord{lv: &libvirtSource{uri: c.libvirtURI}, log: log}
	r.state = &session.StateFile{Path: c.stateFile, Health: r.setHealth}
	if c.noGuard {
		log.Warn(errNoGuard.Error())
	} else {
		socket := c.guardSocket
		if socket == "" {
			socket = filepath.Join(filepath.Dir(c.stateFile), guardSocketName)
		}
		r.link = &guardLink{socket: socket, log: log.With("component", "guard-link"),
			spawn:  spawnGuard(socket, c.stateFile, c.libvirtURI, c.logLevel),
			resave: r.state.Resave}
		if err := r.link.connect(ctx); err != nil {
			// Every hold retries, and is refused while no guard answers.
			log.Error("no guard: frostd refuses to hold guests until one answers", "error", err)
		}
		r.state.Notify = r.link.tell
	}
	r.holds = loadRecord(ctx, r.state, frostLeftovers(r.lv.get), log)
	r.state.KeepHolds(r.holds)
	if err := r.state.Save(nil); err != nil {
		log.Error("writing the state file", "path", c.stateFile, "error", err)
	}
	return r
}

// wire makes reg write every hold down before it begins, and returns
// attach recorded the same way (nil stays nil).
func (r *crashRecord) wire(reg *session.Registry, attach session.AttachFunc) session.AttachFunc {
	reg.UseRecorder(statusRecorder{r.state})
	return reg.RecordedAttach(attach)
}

// recover lets go of what a dead frostd left, in the background.
func (r *crashRecord) recover(reg *session.Registry) <-chan struct{} {
	return startRecovery(r.holds, r.state, reg, releaser(r.lv.get, session.DefaultReleaseTimeout), r.log)
}

// useHealth reports the record's state in the VM services' health from
// now on.
func (r *crashRecord) useHealth(vh *vmHealth) {
	r.mu.Lock()
	r.health = vh.setRecord
	err := r.lastErr
	r.mu.Unlock()
	if err != nil {
		r.health(err)
	}
}

func (r *crashRecord) setHealth(err error) {
	r.mu.Lock()
	r.lastErr = err
	h := r.health
	r.mu.Unlock()
	if h != nil {
		h(err)
	}
}

// close ends the guard link once the guests were let go: with bye when
// nothing is recorded any more, otherwise the guard lets go of the rest.
func (r *crashRecord) close() {
	if r.link != nil {
		r.link.close(r.state.Current().Empty())
	}
	r.lv.close()
}
