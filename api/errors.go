package api

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/breakpoints"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// apiError builds a status with an ErrorDetail. kv are metadata pairs.
// The message and every metadata value are clipped: they often quote the
// request, whose fields may be megabytes long.
func apiError(c codes.Code, reason pb.ErrorReason, msg string, kv ...string) error {
	return withDetail(status.New(c, clipMessage(msg)), &pb.ErrorDetail{Reason: reason, Metadata: pairs(kv)})
}

func withDetail(st *status.Status, d *pb.ErrorDetail) error {
	if s, err := st.WithDetails(d); err == nil {
		return s.Err()
	}
	// A detail that cannot be marshalled leaves the code and message,
	// which still say what happened.
	return st.Err()
}

func pairs(kv []string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = clipField(kv[i+1])
	}
	return m
}

func invalid(field, format string, a ...any) error {
	for i, v := range a {
		// A string argument is most often the client's own input.
		if s, ok := v.(string); ok {
			a[i] = clipField(s)
		}
	}
	return apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT,
		field+": "+fmt.Sprintf(format, a...), "field", field)
}

func writesDisabled(what string) error {
	return apiError(codes.PermissionDenied, pb.ErrorReason_ERROR_REASON_WRITES_DISABLED,
		what+": writes to guest memory and registers are disabled; start frostd with --allow-write")
}

// targetError maps an error from a vmi.Target (or libvirt) onto a status.
func targetError(vm, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	msg := fmt.Sprintf("%s %s: %v", op, vm, err)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, vmi.ErrRunning):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_VM_RUNNING,
			msg+" (pause the guest first)", "vm", vm)
	case errors.Is(err, vmi.ErrSlotsExhausted):
		return apiError(codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_NO_BREAKPOINT_SLOT, msg, "vm", vm)
	case errors.Is(err, vmi.ErrUnknownRegister):
		return apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg, "field", "registers")
	case errors.As(err, new(*vmi.NotRAMError)):
		// An address outside the guest's RAM is the caller's, not a
		// hypervisor failure.
		return apiError(codes.OutOfRange, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg, "vm", vm, "field", "address")
	case errors.Is(err, vmi.ErrNoDomain):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_VM_NOT_FOUND, msg, "vm", vm)
	case errors.Is(err, vmi.ErrClosed), errors.Is(err, vmi.ErrExited):
		return apiError(codes.Unavailable, pb.ErrorReason_ERROR_REASON_HYPERVISOR, msg, "vm", vm)
	}
	return apiError(codes.Internal, pb.ErrorReason_ERROR_REASON_HYPERVISOR, msg, "vm", vm)
}

func asSlot(err error, se **breakpoints.SlotError) bool {
	return errors.As(err, se) || errors.Is(err, breakpoints.ErrNoSlot)
}
