package main

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// describeError turns a status into one line a person can act on: the
// server's message, then its code and reason, and any page states.
func describeError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	var b strings.Builder
	var pages []*pb.PageStatus
	b.WriteString(st.Message())
	fmt.Fprintf(&b, " [%s", st.Code())
	for _, d := range st.Details() {
		ed, ok := d.(*pb.ErrorDetail)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, " %s", strings.TrimPrefix(ed.GetReason().String(), "ERROR_REASON_"))
		keys := make([]string, 0, len(ed.GetMetadata()))
		for k := range ed.GetMetadata() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%q", k, ed.GetMetadata()[k])
		}
		pages = append(pages, ed.GetPages()...)
	}
	b.WriteString("]")
	for _, p := range pages {
		fmt.Fprintf(&b, "\n  %s +%#x: %s", addr(p.GetAddress()), p.GetLength(), pieceState(p))
	}
	return b.String()
}

func pieceState(p *pb.PageStatus) string {
	s := stateName(p.GetLocation().GetState())
	if p.GetReason() != "" {
		s += ": " + p.GetReason()
	}
	return s
}

func stateName(s pb.PageState) string {
	if s == pb.PageState_PAGE_STATE_UNSPECIFIED {
		return "unreadable"
	}
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.String(), "PAGE_STATE_"), "_", "-"))
}
