package nt

import (
	"context"
	"fmt"
)

// walkDone is a long walk's look at its caller: a walk of a large (or
// hostile) list or tree reads guest memory per entry and may take
// seconds, long after the RPC that asked was cancelled. The error keeps
// the context's, so callers map it to Canceled or DeadlineExceeded.
func walkDone(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("walking the %s: %w", what, err)
	}
	return nil
}
