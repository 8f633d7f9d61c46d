package session

import (
	"errors"
	"fmt"
	"strings"

	"github.com/frostvmi/frost/breakpoints"
)

// A guest whose QEMU exited (killed, crashed, `virsh destroy`) is gone:
// the target's connection ended and the manager stopped with ErrGone.
// Its session stays registered, so that calls get that answer rather
// than "not attached", until a Detach or a new Attach replaces it. A
// file-backed RAM outlives QEMU, and reading it would return the last
// contents as if they were live: reads say the guest is gone unless the
// caller asks for post-mortem bytes, and those are flagged.

// ErrGuestGone is what GoneError wraps.
var ErrGuestGone = errors.New("guest is gone (QEMU exited)")

// GoneError says which guest is gone, and why when the target knew.
type GoneError struct {
	VM    string
	Cause error
}

func (e *GoneError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v: %v", e.VM, ErrGuestGone, e.Cause)
	}
	return fmt.Sprintf("%s: %v", e.VM, ErrGuestGone)
}

func (e *GoneError) Unwrap() error { return ErrGuestGone }

// Gone is a *GoneError once the guest is gone, nil while it lives.
func (s *Session) Gone() error {
	err := s.mgr.Err()
	if err == nil || !errors.Is(err, breakpoints.ErrGone) {
		return nil
	}
	// The manager's error is "target gone: <why>"; keep only the why.
	var cause error
	if why := strings.TrimPrefix(err.Error(), breakpoints.ErrGone.Error()+": "); why != err.Error() && why != "<nil>" && why != "" {
		cause = errors.New(why)
	}
	return &GoneError{VM: s.Name, Cause: cause}
}
