package session

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/frostvmi/frost/vmi"
)

// Hypervisor lists libvirt's domains (a *vmi.LibvirtConn is one); tests use
// fakes.
type Hypervisor interface {
	Domains(ctx context.Context) ([]vmi.DomainInfo, error)
}

// AttachFunc takes hold of a running domain by name or UUID and returns
// its target, stopped (vmi.AttachDomain in frostd).
type AttachFunc func(ctx context.Context, name string) (vmi.Target, error)

// Registry holds the sessions by domain name. Its observer (the crash
// recovery state file) hears of every change, so a SIGKILLed frostd knows
// on its next start which guests it may have left with breakpoints in.
type Registry struct {
	mu       sync.Mutex
	sessions map[string]*Session
	observer func(names []string)
	// hv lists libvirt's domains, so that a name that is not attached can
	// be told from one that is no domain at all (a typo). Nil without
	// libvirt.
	hv Hypervisor
	// recovering are VMs a dead frostd held that are being let go;
	// calls on them wait for that (Recover).
	recovering map[string]bool
	// rec writes holds down before they begin (the state file and the
	// guard); nil records nothing.
	rec Recorder
	// unreleased are VMs whose detach failed: forgotten here, so a new
	// Attach can take the domain over (and clean it), but still recorded
	// until one succeeds; each holds the end of its record.
	unreleased map[string]func()
}

// NewRegistry makes an empty registry. observe, if not nil, is called with
// the sorted names after every change, under the registry's lock so that
// calls arrive in order. hv may be nil.
func NewRegistry(hv Hypervisor, observe func(names []string)) *Registry {
	return &Registry{sessions: map[string]*Session{}, observer: observe, hv: hv}
}

// Hypervisor is the registry's domain lister, or nil.
func (r *Registry) Hypervisor() Hypervisor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hv
}

// UseHypervisor gives Get libvirt's domain list for its errors, if the
// registry has none yet.
func (r *Registry) UseHypervisor(h Hypervisor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hv == nil {
		r.hv = h
	}
}

// domainListTimeout bounds the domain listing of Get's error path: an
// error must not wait on a stuck libvirtd for long.
const domainListTimeout = 5 * time.Second

// Get returns an attached VM's session by domain name (or by UUID, as
// Attach takes either). Otherwise it is a *NotAttachedError saying
// whether the name is a domain at all.
func (r *Registry) Get(name string) (*Session, error) {
	r.mu.Lock()
	s, hv, recovering := r.sessions[name], r.hv, r.recovering[name]
	r.mu.Unlock()
	if s != nil {
		return s, nil
	}
	if recovering {
		return nil, &RecoveringError{Name: name}
	}
	if hv == nil {
		return nil, &NotAttachedError{Name: name}
	}
	ctx, cancel := context.WithTimeout(context.Background(), domainListTimeout)
	defer cancel()
	ds, err := hv.Domains(ctx)
	if err != nil {
		return nil, &NotAttachedError{Name: name, ListErr: err}
	}
	known := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.Name == name {
			return nil, &NotAttachedError{Name: name, Checked: true, IsDomain: true}
		}
		if strings.EqualFold(d.UUID, name) {
			if s := r.Lookup(d.Name); s != nil {
				return s, nil
			}
			return nil, &NotAttachedError{Name: d.Name, Checked: true, IsDomain: true}
		}
		known = append(known, d.Name)
	}
	sort.Strings(known)
	return nil, &NotAttachedError{Name: name, Checked: true, Known: known}
}

// FindDomain picks a domain by name, or by UUID in any case. It goes
// through the listing rather than a lookup because the listing alone
// carries libvirt's domain id.
func FindDomain(ctx context.Context, h Hypervisor, name string) (vmi.DomainInfo, error) {
	ds, err := h.Domains(ctx)
	if err != nil {
		return vmi.DomainInfo{}, err
	}
	for _, d := range ds {
		if d.Name == name || strings.EqualFold(d.UUID, name) {
			return d, nil
		}
	}
	return vmi.DomainInfo{}, vmi.ErrNoDomain
}

// Lookup returns an attached VM's session or nil, without an error.
func (r *Registry) Lookup(name string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[name]
}

// Add records s; a name already held is an *AlreadyAttachedError.
func (r *Registry) Add(s *Session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sessions[s.Name]; ok {
		return &AlreadyAttachedError{Name: s.Name}
	}
	r.sessions[s.Name] = s
	r.notify()
	return nil
}

// Remove forgets a session and returns it (nil if it was not held).
func (r *Registry) Remove(name string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sessions[name]
	if s != nil {
		delete(r.sessions, name)
		r.notify()
	}
	return s
}

// Names lists the attached VMs, sorted.
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names()
}

func (r *Registry) names() []string {
	names := make([]string, 0, len(r.sessions))
	for n := range r.sessions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *Registry) notify() {
	if r.observer != nil {
		r.observer(r.names())
	}
}

// CloseAll lets every VM go: its breakpoints are removed and the guest
// resumes (D;1). It is the shutdown path, so it tries every VM and
// returns every failure. A VM stays recorded until it is let go, so a
// crash halfway leaves it to the guard.
func (r *Registry) CloseAll(ctx context.Context) error {
	var errs []error
	for _, name := range r.Names() {
		if s := r.Lookup(name); s != nil {
			if err := s.Close(ctx); err != nil {
				// Still recorded: a second try, or the guard, lets it go.
				errs = append(errs, err)
				continue
			}
			r.Remove(name)
		}
	}
	return errors.Join(errs...)
}
