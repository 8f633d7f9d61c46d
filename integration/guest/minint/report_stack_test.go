package minint

import (
	"slices"
	"strings"
	"testing"
)

// Lines as the kernel printed them on a seed=7 boot (other events cut).
const stackReport = `frost-guest: write count=2 status=0x00000000 bytes=41
frost-guest: stack at=NtWriteFile pid=88 tid=92 count=3 sp=0xffffa00000069ef8 stack-base=0xffffa0000006a000 stack-limit=0xffffa00000066000 user-sp=0x1000e418 user-stack-base=0x10010000 user-stack-limit=0x10000000 end=0x0 frames=0xfffff8017c202da0,0xfffff8017c20f8a6,0x7ffb4000104c,0x7ffb300017c1,0x7ffb3000106d,0x140001359,0x1400012a7
frost-guest: stack at=FsWrite pid=88 tid=92 count=3 sp=0xffffa00000069e78 stack-base=0xffffa0000006a000 stack-limit=0xffffa00000066000 user-sp=0x1000e418 user-stack-base=0x10010000 user-stack-limit=0x10000000 end=0x0 frames=0xfffff8017c202590,0xfffff8017c202f0e,0xfffff8017c20f8a6,0x7ffb4000104c,0x7ffb300017c1,0x7ffb3000106d,0x140001359,0x1400012a7
frost-guest: write count=3 status=0x00000000 bytes=41
`

func TestReportStack(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(stackReport))
	if err != nil {
		t.Fatal(err)
	}
	s, err := rep.Stack("FsWrite", StackWriteCount)
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != 88 || s.TID != 92 || s.SP != 0xffffa00000069e78 || s.StackBase != 0xffffa0000006a000 ||
		s.StackLimit != 0xffffa00000066000 || s.UserSP != 0x1000e418 || s.UserStackBase != 0x10010000 ||
		s.UserStackLimit != 0x10000000 || s.End != 0 {
		t.Errorf("FsWrite stack = %+v", s)
	}
	wantKernel := []uint64{0xfffff8017c202590, 0xfffff8017c202f0e, 0xfffff8017c20f8a6}
	wantUser := []uint64{0x7ffb4000104c, 0x7ffb300017c1, 0x7ffb3000106d, 0x140001359, 0x1400012a7}
	if !slices.Equal(s.Kernel(), wantKernel) || !slices.Equal(s.User(), wantUser) {
		t.Errorf("FsWrite frames: kernel %#x user %#x, want %#x and %#x", s.Kernel(), s.User(), wantKernel, wantUser)
	}
	n, err := rep.Stack("NtWriteFile", StackWriteCount)
	if err != nil {
		t.Fatal(err)
	}
	// Below NtWriteFile, FsWrite's chain is NtWriteFile's from its return
	// address on.
	if len(n.Frames) != 7 || n.Frames[0] != 0xfffff8017c202da0 || !slices.Equal(n.Frames[1:], s.Frames[2:]) {
		t.Errorf("NtWriteFile frames %#x, FsWrite's %#x", n.Frames, s.Frames)
	}
	all, err := rep.Stacks()
	if err != nil || len(all) != 2 {
		t.Errorf("Stacks() = %d stacks, %v; want 2", len(all), err)
	}
	if _, err := rep.Stack("NtWriteFile", 4); err == nil {
		t.Error("a stack for a count the guest did not report")
	}
}

func TestReportStackRejects(t *testing.T) {
	const good = "frost-guest: stack at=NtWriteFile pid=88 tid=92 count=3 sp=0xffffa00000069ef8 stack-base=0x1 stack-limit=0x1 user-sp=0x1 user-stack-base=0x1 user-stack-limit=0x1 end=0x0 "
	for _, tc := range []struct{ name, line string }{
		{"no frames", good},
		{"empty frames", good + "frames="},
		{"empty frame", good + "frames=0xfffff8017c202da0,,0x7ffb4000104c"},
		{"zero frame", good + "frames=0xfffff8017c202da0,0x0,0x7ffb4000104c"},
		{"not hex", good + "frames=0xfffff8017c202da0,0xzz"},
		{"no 0x", good + "frames=fffff8017c202da0,0x7ffb4000104c"},
		{"too wide", good + "frames=0xfffff8017c202da0,0x1fffff8017c202da0"},
		{"no kernel frame", good + "frames=0x7ffb4000104c,0x140001359"},
		{"no user frame", good + "frames=0xfffff8017c202da0,0xfffff8017c20f8a6"},
		{"kernel after user", good + "frames=0xfffff8017c202da0,0x7ffb4000104c,0xfffff8017c20f8a6"},
		{"too many", good + "frames=0xfffff8017c202da0" + strings.Repeat(",0x7ffb4000104c", maxStackFrames)},
		{"no at", strings.Replace(good, "at=NtWriteFile ", "", 1) + "frames=0xfffff8017c202da0,0x7ffb4000104c"},
		{"no sp", strings.Replace(good, "sp=0xffffa00000069ef8 ", "", 1) + "frames=0xfffff8017c202da0,0x7ffb4000104c"},
	} {
		e, ok, err := ParseLine(tc.line)
		if !ok || err != nil {
			t.Fatalf("%s: the line does not parse as an event: %v", tc.name, err)
		}
		if s, err := ParseStack(e); err == nil {
			t.Errorf("%s: ParseStack = %+v, want an error", tc.name, s)
		}
	}
	e, _, _ := ParseLine("frost-guest: write count=3 status=0x00000000 bytes=41")
	if _, err := ParseStack(e); err == nil {
		t.Error("ParseStack took a write event")
	}
}
