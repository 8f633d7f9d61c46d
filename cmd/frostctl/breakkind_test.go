package main

import (
	"testing"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestBreakKind: --kind's words map to the API's kinds, --hw is hardware,
// and a kind --hw contradicts or a word frostctl does not know is refused.
func TestBreakKind(t *testing.T) {
	for _, tc := range []struct {
		s       string
		hw, set bool
		want    pb.BreakpointKind
		bad     bool
	}{
		{s: "auto", want: pb.BreakpointKind_BREAKPOINT_KIND_UNSPECIFIED},
		{s: "hardware", set: true, want: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE},
		{s: "Software", set: true, want: pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE},
		{s: "auto", hw: true, want: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE},
		{s: "hardware", hw: true, set: true, want: pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE},
		{s: "software", hw: true, set: true, bad: true},
		{s: "auto", hw: true, set: true, bad: true},
		{s: "debug", set: true, bad: true},
	} {
		got, err := breakKind(tc.s, tc.hw, tc.set)
		if tc.bad {
			if err == nil {
				t.Errorf("breakKind(%q, hw=%v): %v, want an error", tc.s, tc.hw, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("breakKind(%q, hw=%v) = %v, %v; want %v", tc.s, tc.hw, got, err, tc.want)
		}
	}
}
