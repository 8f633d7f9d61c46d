package api

import (
	"google.golang.org/grpc/codes"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
)

// goneError is the answer for a guest whose QEMU exited: nothing can be
// done with it but detach, attach again once it runs, or read its last
// RAM post-mortem.
func goneError(vm string, err error) error {
	return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_STOPPED,
		err.Error()+"; detach it, or attach again once the domain runs (physical reads may ask for post_mortem)",
		"vm", vm, "state", "gone")
}

// getAny is get that also returns a gone guest's session, with whether
// it is gone: for Detach, and reads that ask for post-mortem bytes.
func (c *Config) getAny(name string) (*session.Session, bool, error) {
	if name == "" {
		return nil, false, invalid("vm", "a VM name is required")
	}
	s, err := c.Registry.Get(name)
	if err != nil {
		return nil, false, sessionError(name, err)
	}
	return s, s.Gone() != nil, nil
}

// getForRead is the session a physical read reads: a gone guest only
// when the request asks for post-mortem bytes (the reply is then
// flagged).
func (c *Config) getForRead(name string, postMortem bool) (vm *session.Session, gone bool, err error) {
	vm, gone, err = c.getAny(name)
	if err != nil {
		return nil, false, err
	}
	if gone && !postMortem {
		return nil, false, goneError(vm.Name, vm.Gone())
	}
	return vm, gone, nil
}
