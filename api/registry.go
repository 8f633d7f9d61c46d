package api

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// get returns the session of an attached VM, or the API's error: a name
// that is a domain but not attached is FailedPrecondition ("attach it
// first"); one that is no domain at all is NotFound and lists the domains
// libvirt knows (a typo is not cured by attaching).
func (c *Config) get(name string) (*session.Session, error) {
	if name == "" {
		return nil, invalid("vm", "a VM name is required")
	}
	s, err := c.Registry.Get(name)
	if err != nil {
		return nil, sessionError(name, err)
	}
	// A guest whose QEMU exited stays registered until detached: every
	// call but Detach (and post-mortem reads, getForRead) says so.
	if gerr := s.Gone(); gerr != nil {
		return nil, goneError(s.Name, gerr)
	}
	return s, nil
}

// sessionError maps the session layer's errors.
func sessionError(name string, err error) error {
	var na *session.NotAttachedError
	var aa *session.AlreadyAttachedError
	switch {
	case errors.As(err, &na) && na.NoSuchDomain():
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND, na.Error(),
			"vm", na.Name, "domains", strings.Join(na.Known, ","))
	case errors.As(err, &na):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_NOT_ATTACHED, na.Error(), "vm", na.Name)
	case errors.As(err, &aa):
		return apiError(codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_VM_ALREADY_ATTACHED, aa.Error(), "vm", aa.Name)
	}
	return targetError(name, "reaching", err)
}
