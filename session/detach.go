package session

import "context"

// Detach lets one VM go and only then forgets it: its breakpoints are
// removed and the guest resumes (D;1) while it is still recorded, so a
// crash in the middle leaves it in the state file and with the guard,
// which finish the job. A guest that is gone (QEMU exited) has nothing to
// let go and is forgotten whatever Close says; one that could not be let
// go stays recorded, and the error says why.
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
		return s, err
	}
	r.forget(s)
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
