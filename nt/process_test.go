package nt

import (
	"errors"
	"testing"
)

func TestProcesses(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		sys := g.process(4, 0, 0x1aa000, "System")
		g.process(0x40, 4, 0x2bb000, "smss.exe")
		g.process(0x48, 0x40, 0x3cc002, "a-very-long-name.exe") // 15 bytes kept, no NUL
		k := g.kernel()
		procs, err := k.Processes()
		if err != nil {
			t.Fatal(err)
		}
		want := []Process{
			{EPROCESS: sys, PID: 4, DTB: 0x1aa000, Name: "System"},
			{PID: 0x40, ParentPID: 4, DTB: 0x2bb000, Name: "smss.exe"},
			{PID: 0x48, ParentPID: 0x40, DTB: 0x3cc002, Name: "a-very-long-nam"},
		}
		if len(procs) != len(want) {
			t.Fatalf("got %d processes %v, want %d", len(procs), procs, len(want))
		}
		for i, w := range want {
			p := procs[i]
			if p.PID != w.PID || p.ParentPID != w.ParentPID || p.DTB != w.DTB || p.Name != w.Name || (w.EPROCESS != 0 && p.EPROCESS != w.EPROCESS) {
				t.Errorf("process %d = %+v, want %+v", i, p, w)
			}
		}
		// A CR3 with PCID bits finds its process; so do pid and name.
		if p, err := k.ProcessByDTB(0x3cc000 | 0x5 | 1<<63); err != nil || p.PID != 0x48 {
			t.Errorf("ProcessByDTB = %v, %v", p, err)
		}
		if p, err := k.ProcessByPID(0x40); err != nil || p.Name != "smss.exe" {
			t.Errorf("ProcessByPID = %v, %v", p, err)
		}
		if p, err := k.ProcessByName("SMSS.EXE"); err != nil || p.PID != 0x40 {
			t.Errorf("ProcessByName = %v, %v", p, err)
		}
		if _, err := k.ProcessByPID(0x1234); !errors.Is(err, ErrNoProcess) {
			t.Errorf("ProcessByPID of a missing pid: %v, want ErrNoProcess", err)
		}
	})
}

// TestProcessListCycle: an ActiveProcessLinks ring that loops back to its
// second entry instead of the head ends in ErrCycle, not a hang.
func TestProcessListCycle(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		g.process(4, 0, 0x1000, "System")
		b := g.process(8, 4, 0x2000, "b")
		c := g.process(12, 4, 0x3000, "c")
		g.set("_EPROCESS", c, "ActiveProcessLinks.Flink", g.addr("_EPROCESS", b, "ActiveProcessLinks"))
		procs, err := g.kernel().Processes()
		var we *WalkError
		if !errors.Is(err, ErrCycle) || !errors.As(err, &we) {
			t.Fatalf("Processes on a cyclic list: %v, %v; want a *WalkError with ErrCycle", procs, err)
		}
		// What was read before the loop is kept: an analyst wants it.
		if len(procs) != 3 {
			t.Errorf("the walk returned %d processes before the loop, want 3", len(procs))
		}
		t.Log(err)
	})
}

// TestProcessListBounds: a self-linked entry, a null link and an
// unreadable entry each end with a clear error.
func TestProcessListBounds(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		a := g.process(4, 0, 0x1000, "System")
		links := g.addr("_EPROCESS", a, "ActiveProcessLinks")
		k := g.kernel()

		g.set("_LIST_ENTRY", links, "Flink", links)
		if _, err := k.Processes(); !errors.Is(err, ErrCycle) {
			t.Errorf("self-linked entry: %v, want ErrCycle", err)
		}
		g.set("_LIST_ENTRY", links, "Flink", 0)
		if _, err := k.Processes(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("null Flink: %v, want ErrCorrupt", err)
		}
		g.set("_LIST_ENTRY", links, "Flink", 0xffffb00000000000)
		var re *ReadError
		if _, err := k.Processes(); !errors.As(err, &re) {
			t.Errorf("Flink into unmapped memory: %v, want a *ReadError", err)
		}

		// A long but finite list stops at the configured bound.
		g.set("_LIST_ENTRY", links, "Flink", g.global("PsActiveProcessHead"))
		for i := 0; i < 10; i++ {
			g.process(uint64(8+4*i), 4, 0x1000, "p")
		}
		k.limits.Processes = 5
		if _, err := k.Processes(); !errors.Is(err, ErrTooLong) {
			t.Errorf("11 processes with a bound of 5: %v, want ErrTooLong", err)
		}
	})
}
