package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

const pageSize = 4096

// readPhysical fills buf from gpa and says what it served. A Target read
// fails whole at the first hole, so only then is the range re-read page by
// page, to serve every page that is RAM and name the ones that are not.
// Consecutive pages with the same outcome become one piece.
func readPhysical(ctx context.Context, t vmi.Target, gpa uint64, buf []byte) ([]*pb.PageStatus, error) {
	err := t.ReadPhysical(ctx, gpa, buf)
	if err == nil {
		return []*pb.PageStatus{{Address: gpa, Length: uint64(len(buf)), Served: true}}, nil
	}
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	var pages []*pb.PageStatus
	for off := 0; off < len(buf); {
		n := min(pageSize-int((gpa+uint64(off))%pageSize), len(buf)-off)
		piece := buf[off : off+n]
		perr := t.ReadPhysical(ctx, gpa+uint64(off), piece)
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		if perr != nil {
			clear(piece)
		}
		pages = appendPiece(pages, gpa+uint64(off), uint64(off), uint64(n), perr)
		off += n
	}
	return pages, nil
}

// appendPiece adds one page's outcome, merging it into the last piece when
// that had the same outcome.
func appendPiece(pages []*pb.PageStatus, addr, off, n uint64, err error) []*pb.PageStatus {
	st := &pb.PageStatus{Address: addr, Offset: off, Length: n, Served: err == nil}
	if err != nil {
		st.Reason = err.Error()
		st.Location = &pb.Location{State: physicalState(err)}
	}
	if k := len(pages); k > 0 {
		last := pages[k-1]
		if last.Served == st.Served && last.Reason == st.Reason && last.Offset+last.Length == off {
			last.Length += n
			return pages
		}
	}
	return append(pages, st)
}

func physicalState(err error) pb.PageState {
	var nr *vmi.NotRAMError
	if errors.As(err, &nr) {
		return pb.PageState_PAGE_STATE_NOT_RAM
	}
	return pb.PageState_PAGE_STATE_UNSPECIFIED
}

// servedAny is the OK-or-FailedPrecondition rule: a read that served any
// byte is OK with its pieces; one that served none fails, pieces attached.
func servedAny(vm, what string, pages []*pb.PageStatus) error {
	for _, p := range pages {
		if p.Served {
			return nil
		}
	}
	msg := what + " of " + vm + " served nothing"
	if len(pages) > 0 && pages[0].Reason != "" {
		msg += ": " + pages[0].Reason
	}
	return withDetail(status.New(codes.FailedPrecondition, msg), &pb.ErrorDetail{
		Reason:   pb.ErrorReason_ERROR_REASON_NOTHING_READABLE,
		Metadata: map[string]string{"vm": vm},
		Pages:    pages,
	})
}
