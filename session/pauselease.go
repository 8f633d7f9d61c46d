package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// An operator's Pause is a lease, not a switch: a client that pauses the
// guest and then dies (or forgets) must not leave a production VM frozen.
// The pause lasts the lease unless the client renews it; when the last
// lease lapses the guest is let go as it was found, and the log says who
// had paused it.

const (
	// DefaultPauseLease is the lease of a Pause that asks for none.
	DefaultPauseLease = 30 * time.Second
	// MaxPauseLease bounds one lease (and one renewal): long enough for
	// an analyst at a prompt, short enough that a forgotten pause ends.
	MaxPauseLease = 10 * time.Minute
)

// ErrLeaseEnded: the lease named lapsed, or a Resume ended it. The guest
// may have run since, so a renewal is refused rather than re-pausing.
var ErrLeaseEnded = errors.New("the pause lease has lapsed or was ended by a Resume; the guest may have run since")

// ErrLeaseTooLong: a lease longer than MaxPauseLease was asked for.
var ErrLeaseTooLong = fmt.Errorf("a pause lease may last at most %v", MaxPauseLease)

// Lease is a pause lease as its client sees it.
type Lease struct {
	ID      string
	Holder  string // who paused (the peer, as the API names it)
	Expires time.Time
	Length  time.Duration
}

type lease struct {
	Lease
	since time.Time
	timer *time.Timer
	// lapsed: its time ran out while a Hold had the guest still; the
	// lapse waits for the hold (renewing is refused meanwhile).
	lapsed bool
}

// leases are the live pause leases of a session.
type leases struct {
	mu sync.Mutex
	m  map[string]*lease
	// wasRunning: some Pause under the live leases stopped a running
	// guest, so the last lease to lapse resumes it.
	wasRunning bool
	// holds counts Holds in progress (a dump reading a still guest): a
	// lapse then would resume the guest under the dump.
	holds int
}

// lapseRetry is how soon a lapse that waited for a Hold looks again.
// Holds are bounded (HoldTimeout, a dump's own deadline), so the wait is.
const lapseRetry = time.Second

// holding counts a Hold in progress; the returned func ends it.
func (s *Session) holding() func() {
	s.pl.mu.Lock()
	s.pl.holds++
	s.pl.mu.Unlock()
	return func() {
		s.pl.mu.Lock()
		s.pl.holds--
		s.pl.mu.Unlock()
	}
}

// leaseDuration applies the default and the bound.
func leaseDuration(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, errors.New("a pause lease cannot be negative")
	case d == 0:
		return DefaultPauseLease, nil
	case d > MaxPauseLease:
		return 0, ErrLeaseTooLong
	}
	return d, nil
}

// PauseLeased pauses the guest under a new lease of d (0: the default)
// held by holder. It returns the lease with the stop and whether this
// pause stopped a running guest.
func (s *Session) PauseLeased(ctx context.Context, holder string, d time.Duration) (Lease, *vmi.Stop, bool, error) {
	d, err := leaseDuration(d)
	if err != nil {
		return Lease{}, nil, false, err
	}
	running, before := s.Target.Running()
	stop, err := s.mgr.Pause(ctx)
	if err != nil {
		return Lease{}, nil, false, err
	}
	was := StoppedARunningGuest(running, before, stop)
	now := time.Now()
	l := &lease{Lease: Lease{ID: newLeaseID(), Holder: holder, Expires: now.Add(d), Length: d}, since: now}
	s.pl.mu.Lock()
	if s.pl.m == nil {
		s.pl.m = map[string]*lease{}
	}
	s.pl.m[l.ID] = l
	s.pl.wasRunning = s.pl.wasRunning || was
	l.timer = time.AfterFunc(d, func() { s.lapse(l) })
	s.pl.mu.Unlock()
	return l.Lease, stop, was, nil
}

// RenewPause extends a live lease to d (0: the default) from now.
func (s *Session) RenewPause(id string, d time.Duration) (Lease, error) {
	d, err := leaseDuration(d)
	if err != nil {
		return Lease{}, err
	}
	s.pl.mu.Lock()
	defer s.pl.mu.Unlock()
	l := s.pl.m[id]
	// Stop reports false when the timer has fired: the lapse is already
	// on its way (waiting for mu), so the lease is as good as gone.
	if l == nil || l.lapsed || !l.timer.Stop() {
		return Lease{}, ErrLeaseEnded
	}
	l.Expires, l.Length = time.Now().Add(d), d
	l.timer.Reset(d)
	return l.Lease, nil
}

// ResumeLeased ends every pause lease and resumes the guest (the
// operator's Resume).
func (s *Session) ResumeLeased(ctx context.Context) error {
	s.endLeases()
	return s.mgr.Resume(ctx)
}

// endLeases forgets every lease without touching the guest.
func (s *Session) endLeases() {
	s.pl.mu.Lock()
	defer s.pl.mu.Unlock()
	for id, l := range s.pl.m {
		l.timer.Stop()
		delete(s.pl.m, id)
	}
	s.pl.wasRunning = false
}

// Leases lists the live pause leases.
func (s *Session) Leases() []Lease {
	s.pl.mu.Lock()
	defer s.pl.mu.Unlock()
	out := make([]Lease, 0, len(s.pl.m))
	for _, l := range s.pl.m {
		out = append(out, l.Lease)
	}
	return out
}

// lapse ends a lease whose time ran out. The last one to go lets the
// guest go as it was found: resumed if a leased Pause stopped it running.
func (s *Session) lapse(l *lease) {
	s.pl.mu.Lock()
	if s.pl.m[l.ID] != l {
		s.pl.mu.Unlock()
		return // renewed and ended meanwhile, or a Resume ended it
	}
	if s.pl.holds > 0 {
		if !l.lapsed {
			s.Log().Info("pause lease lapsed during a hold: letting the guest go when the hold ends", "lease", l.ID, "paused_by", l.Holder)
		}
		l.lapsed = true
		l.timer.Reset(lapseRetry)
		s.pl.mu.Unlock()
		return
	}
	delete(s.pl.m, l.ID)
	others := len(s.pl.m)
	resume := s.pl.wasRunning
	if others == 0 {
		s.pl.wasRunning = false
	}
	s.pl.mu.Unlock()
	log := s.Log().With("lease", l.ID, "paused_by", l.Holder, "paused_for", time.Since(l.since).Round(time.Millisecond))
	if others > 0 {
		log.Info("pause lease lapsed; the guest stays paused under the other leases", "leases", others)
		return
	}
	log.Warn("pause lease lapsed without renewal: letting the guest go", "resume", resume)
	ctx, cancel := context.WithTimeout(context.Background(), HoldTimeout)
	defer cancel()
	if err := s.mgr.Release(ctx, resume); err != nil {
		log.Error("letting the guest go after its pause lease lapsed", "error", err)
	}
}

func newLeaseID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
