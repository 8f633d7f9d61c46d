package main

import (
	"slices"
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

// TestFlagValueCompletion: tab after break --kind and dump --via offers
// the words those flags take.
func TestFlagValueCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"break", "--kind", ""}, []string{"auto", "hardware", "software"}},
		{[]string{"dump", "--via", ""}, []string{"auto", "frostd", "local", "stream"}},
		{[]string{"dump", "--format", ""}, []string{"elf", "raw"}},
	} {
		words, _ := complete(t, tc.args...)
		if !slices.Equal(words, tc.want) {
			t.Errorf("frostctl %v<TAB>: %q, want %q", tc.args, words, tc.want)
		}
	}
}
