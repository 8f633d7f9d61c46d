package libvirt

import (
	"errors"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// Error is a failure libvirtd reported.
type Error struct {
	Op   string // what Frost asked, e.g. "suspending domain frost-1"
	Code uint32 // libvirt's virErrorNumber
	Msg  string // libvirtd's message
}

func (e *Error) Error() string { return fmt.Sprintf("libvirt: %s: %s", e.Op, e.Msg) }

// ErrUnavailable matches (errors.Is) every call made while libvirtd is
// not connected: it went away (a restart) and the Conn is dialing again.
var ErrUnavailable = errors.New("libvirtd unavailable, reconnecting")

// UnavailableError is ErrUnavailable with since when and why.
type UnavailableError struct {
	Target string
	Since  time.Time
	Cause  error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("%v (%s", ErrUnavailable, e.Target)
	if !e.Since.IsZero() {
		msg += fmt.Sprintf(", down for %v", time.Since(e.Since).Round(time.Second))
	}
	if e.Cause != nil {
		msg += fmt.Sprintf(": %v", e.Cause)
	}
	return msg + ")"
}

func (e *UnavailableError) Unwrap() error { return ErrUnavailable }

// ErrNoDomain matches (errors.Is) a lookup of a domain libvirt does not
// know.
var ErrNoDomain = errors.New("libvirt: no such domain")

// Is makes errors.Is(err, ErrNoDomain) work for libvirt's VIR_ERR_NO_DOMAIN.
func (e *Error) Is(target error) bool {
	return target == ErrNoDomain && e.Code == uint32(golibvirt.ErrNoDomain)
}

// wrap turns go-libvirt's errors into *Error, keeping the others (a lost
// connection) as they are, with what was being done.
func wrap(op string, err error) error {
	var le golibvirt.Error
	if errors.As(err, &le) {
		return &Error{Op: op, Code: le.Code, Msg: le.Message}
	}
	return fmt.Errorf("libvirt: %s: %w", op, err)
}
