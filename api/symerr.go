package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/store"
)

// symbolError maps symbols' and store's errors: every lookup miss is
// NotFound with the reason a program switches on.
func symbolError(query string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	msg := err.Error()
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, symbols.ErrSymbolNotFound):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_SYMBOL_NOT_FOUND, msg, "symbol", query)
	case errors.Is(err, symbols.ErrTypeNotFound):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_TYPE_NOT_FOUND, msg, "type", query)
	case errors.Is(err, symbols.ErrFieldNotFound), errors.Is(err, symbols.ErrEnumNotFound):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_FIELD_NOT_FOUND, msg, "field", query)
	case errors.Is(err, symbols.ErrBadPath):
		return apiError(codes.InvalidArgument, pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg, "field", "path")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrOffline):
		return apiError(codes.NotFound, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND, msg)
	case errors.Is(err, store.ErrUnreachable):
		return apiError(codes.Unavailable, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND, msg)
	case errors.Is(err, store.ErrMismatch), errors.Is(err, store.ErrUnsupported):
		return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND, msg)
	}
	// A malformed PDB or ISF: the file is the problem, not the server.
	return apiError(codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_SYMBOLS_NOT_FOUND, msg)
}

// isSymbolsMiss reports an error from symbols or the store.
func isSymbolsMiss(err error) bool {
	for _, e := range []error{symbols.ErrSymbolNotFound, symbols.ErrTypeNotFound, symbols.ErrFieldNotFound,
		symbols.ErrEnumNotFound, store.ErrNotFound, store.ErrOffline, store.ErrUnreachable, store.ErrMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
