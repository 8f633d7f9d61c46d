package api

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/frostvmi/frost/breakpoints"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// kindChoice maps the kind a client asked for onto the manager's choice;
// UNSPECIFIED lets the manager choose.
func kindChoice(k pb.BreakpointKind) (breakpoints.KindChoice, error) {
	switch k {
	case pb.BreakpointKind_BREAKPOINT_KIND_UNSPECIFIED:
		return breakpoints.KindAuto, nil
	case pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE:
		return breakpoints.KindHardware, nil
	case pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE:
		return breakpoints.KindSoftware, nil
	}
	return 0, invalid("spec.kind", "unknown breakpoint kind %d (want UNSPECIFIED, HARDWARE or SOFTWARE)", int32(k))
}

// kindRefused maps a refused kind (software under KVM without the
// operator's consent, or the other kind already armed at the address)
// onto FailedPrecondition: the request is well formed, frostd's
// configuration or the VM's state refuses it. Other errors give nil.
func kindRefused(vm string, err error) error {
	var ke *breakpoints.KindError
	if !errors.As(err, &ke) {
		return nil
	}
	return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NO_BREAKPOINT_SLOT, err.Error(),
		"vm", vm, "kind", ke.Want.String())
}
