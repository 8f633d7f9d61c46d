package libvirt

import (
	"errors"
	"fmt"

	golibvirt "github.com/digitalocean/go-libvirt"
)

// Error is a failure libvirtd reported.
type Error struct {
	Op   string // what Frost asked, e.g. "suspending domain frost-1"
	Code uint32 // libvirt's virErrorNumber
	Msg  string // libvirtd's message
}

func (e *Error) Error() string { return fmt.Sprintf("libvirt: %s: %s", e.Op, e.Msg) }

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
