package session

import "context"

// Detach lets one VM go and only then forgets it: its breakpoints are
// removed and the guest resumes (D;1) while it is still recorded, so a
// crash in the middle leaves it in the state file and with the guard,
// which finish the job. A guest that is gone (QEMU exited) has nothing to
// let go and is forgotten whatever Close says.
//
// A VM that could not be let go is forgotten here too, so that a new
// Attach can take the domain over (an attach clears the stale
// breakpoints), but it stays recorded until a later Detach of the same
// name succeeds: a frostd that dies meanwhile leaves it to the guard and
// to its successor's recovery. The error says why it failed.
//
// It returns the session it detached, or nil when name was not attached
// (a concurrent Detach got there first: the outcome asked for holds).
func (r *Registry) Detach(ctx context.Context, name string) (*Session, error) {
	s := r.Lookup(name)
	if s == nil {
		return nil, nil
	}
	err := s.Close(ctx)
	if err != nil && s.Gone() == nil {
		if end, rerr := r.BeginHold(Hold{VM: s.Name, Kind: HoldAttached}); rerr == nil {
			r.keepUnreleased(s.Name, end)
		}
		r.forget(s)
		return s, err
	}
	r.forget(s)
	r.released(s.Name)
	return s, nil
}

// forget removes s if it is still the session recorded under its name (an
// Attach may have replaced a gone one meanwhile).
func (r *Registry) forget(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[s.Name] == s {
		delete(r.sessions, s.Name)
		r.notify()
	}
}

// keepUnreleased keeps name recorded after a failed detach.
func (r *Registry) keepUnreleased(name string, end func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.unreleased == nil {
		r.unreleased = map[string]func(){}
	}
	if old := r.unreleased[name]; old != nil {
		old()
	}
	r.unreleased[name] = end
}

// released ends the record a failed detach of name kept, now that a
// detach succeeded.
func (r *Registry) released(name string) {
	r.mu.Lock()
	end := r.unreleased[name]
	delete(r.unreleased, name)
	r.mu.Unlock()
	if end != nil {
		end()
	}
}
