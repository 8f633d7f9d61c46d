package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// streamEnd is how a stream that runs until the user interrupts it
// (events, break, monitor) ended. Only the user's ^C is a success: frostd
// ends such a stream only when the VM went away, was detached, or frostd
// is stopping, and a script watching the stream must learn that from the
// exit status, not from output that merely stops.
//
// what names the stream ("the events of win10"); last is the last VM
// event the stream carried (nil if none), which says why the VM went.
func streamEnd(ctx context.Context, what string, err error, last *pb.VMEvent) error {
	if ctx.Err() != nil {
		return nil // the user's interrupt
	}
	why := ""
	if last != nil {
		why = fmt.Sprintf(" after the VM's %q event", vmEventName(last))
		if last.GetReason() != "" {
			why = fmt.Sprintf(" after the VM's %q event (%s)", vmEventName(last), last.GetReason())
		}
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("frostd ended %s%s: the VM went away or was detached, or frostd is stopping", what, why)
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unavailable {
		return fmt.Errorf("lost frostd during %s%s (frostd stopped or its connection broke): %s", what, why, st.Message())
	}
	return err
}

func vmEventName(e *pb.VMEvent) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.GetKind().String(), "KIND_"), "_", " "))
}
