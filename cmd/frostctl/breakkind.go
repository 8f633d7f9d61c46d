package main

import (
	"fmt"
	"io"
	"strings"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// breakKind is --kind as the API's kind. --hw (kept for scripts written
// before --kind) means hardware, and contradicts any other explicit kind.
func breakKind(s string, hw, kindSet bool) (pb.BreakpointKind, error) {
	var kind pb.BreakpointKind
	switch strings.ToLower(s) {
	case "auto", "":
		kind = pb.BreakpointKind_BREAKPOINT_KIND_UNSPECIFIED
	case "hardware", "hw":
		kind = pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE
	case "software", "sw":
		kind = pb.BreakpointKind_BREAKPOINT_KIND_SOFTWARE
	default:
		return 0, fmt.Errorf("--kind: want auto, hardware or software, not %q", s)
	}
	if hw {
		if kindSet && kind != pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE {
			return 0, fmt.Errorf("--hw (hardware) contradicts --kind %s", s)
		}
		kind = pb.BreakpointKind_BREAKPOINT_KIND_HARDWARE
	}
	return kind, nil
}

// kindName is a kind as --kind spells it; an armed breakpoint's unset
// kind (a frostd that does not report it) reads "auto".
func kindName(k pb.BreakpointKind) string {
	if k == pb.BreakpointKind_BREAKPOINT_KIND_UNSPECIFIED {
		return "auto"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "BREAKPOINT_KIND_"))
}

// printArmed says how a breakpoint frostctl just armed was armed, and
// warns when the guest can see it: a software breakpoint under KVM is a
// 0xCC byte in guest code, which the guest's own checks (Windows' kernel
// patch protection among them) may find.
func printArmed(w io.Writer, b *pb.Breakpoint) {
	fmt.Fprintf(w, "breakpoint %d armed as %s", b.GetId(), kindName(b.GetKind()))
	if b.GetVisibleToGuest() {
		fmt.Fprint(w, ": visible to the guest (0xCC in guest code)")
	}
	fmt.Fprintln(w)
}
