package nt

import (
	"errors"
	"maps"
	"testing"
)

// TestRealISFTrapFrame: a user thread blocked in a system call on Windows
// 10's _KTRAP_FRAME, whose layout is nothing like mini-NT's (16-bit
// SegCs, 32-bit EFlags, no R12–R15, Rbx/Rdi/Rsi after the debug
// registers). Every register the frame has comes back by name, and
// those it lacks are absent rather than zero.
func TestRealISFTrapFrame(t *testing.T) {
	g := newRealGuest(t)
	w := g.process(0x1a4, 0x4, 0x7a000, "writer.exe")
	th := g.thread(w, w, 0x1a8)
	tf := g.alloc("_KTRAP_FRAME")
	g.set("_ETHREAD", th, "Tcb.TrapFrame", tf)
	want := map[string]uint64{
		"rax": 0x1b, "rcx": 0x7ff7a0001234, "rdx": 0x2, "r8": 0x8, "r9": 0x9, "r10": 0x10, "r11": 0x246,
		"rbx": 0xb, "rdi": 0xd1, "rsi": 0x51, "rbp": 0x14fe00, "rsp": 0x14fd28,
	}
	for name, v := range want {
		g.set("_KTRAP_FRAME", tf, map[string]string{"rax": "Rax", "rcx": "Rcx", "rdx": "Rdx", "r8": "R8", "r9": "R9", "r10": "R10", "r11": "R11",
			"rbx": "Rbx", "rdi": "Rdi", "rsi": "Rsi", "rbp": "Rbp", "rsp": "Rsp"}[name], v)
	}
	g.set("_KTRAP_FRAME", tf, "Rip", 0x7ffe12340014)
	g.set("_KTRAP_FRAME", tf, "SegCs", 0x33)
	g.set("_KTRAP_FRAME", tf, "SegSs", 0x2b)
	g.set("_KTRAP_FRAME", tf, "EFlags", 0x10246)
	// Fields next to the registers, which a wrong width would spill into.
	g.set("_KTRAP_FRAME", tf, "Fill0", 0xff)
	g.set("_KTRAP_FRAME", tf, "Fill2", 0xffffffff)

	k := g.kernel()
	p, err := k.ProcessByPID(0x1a4)
	if err != nil {
		t.Fatal(err)
	}
	threads, err := k.Threads(p)
	if err != nil || len(threads) != 1 {
		t.Fatalf("threads %v, %v", threads, err)
	}
	got, err := k.TrapFrame(threads[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.Addr != tf || got.RIP != 0x7ffe12340014 || got.RSP != 0x14fd28 || got.RBP != 0x14fe00 || got.EFlags != 0x10246 ||
		got.CS != 0x33 || got.SS != 0x2b || !got.UserMode {
		t.Errorf("trap frame %+v", got)
	}
	if !maps.Equal(got.GPR, want) {
		t.Errorf("GPR %v, want %v (Windows 10's frame has no r12–r15)", got.GPR, want)
	}

	// A frame that interrupted ring 0.
	g.set("_KTRAP_FRAME", tf, "SegCs", 0x10)
	if got, err := k.TrapFrame(threads[0]); err != nil || got.UserMode {
		t.Errorf("kernel-mode frame: %+v, %v", got, err)
	}
	// A thread that has never entered the kernel.
	g.set("_ETHREAD", th, "Tcb.TrapFrame", 0)
	if _, err := k.TrapFrame(threads[0]); !errors.Is(err, ErrNoTrapFrame) {
		t.Errorf("null TrapFrame: %v", err)
	}
	// Guest memory pointing the frame into user space is not believed.
	g.set("_ETHREAD", th, "Tcb.TrapFrame", 0x7ff000000000)
	if _, err := k.TrapFrame(threads[0]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("user-space TrapFrame: %v", err)
	}
	// One that points at unmapped kernel memory is a read error.
	g.set("_ETHREAD", th, "Tcb.TrapFrame", 0xffffb00000000000)
	var re *ReadError
	if _, err := k.TrapFrame(threads[0]); !errors.As(err, &re) {
		t.Errorf("unmapped TrapFrame: %v", err)
	}
}

// TestRealISFTrapFrameWithoutRip: a _KTRAP_FRAME without what the CPU
// pushes on every entry is refused by name, not read as zeros.
func TestRealISFTrapFrameWithoutRip(t *testing.T) {
	g := newGuestOn(t, realISFWith(t, nil, nil, map[string][]string{"_KTRAP_FRAME": {"Rip"}}))
	tf := g.alloc("_KTRAP_FRAME")
	k := g.kernel()
	var se *SymbolError
	if _, err := k.TrapFrameAt(tf); !errors.As(err, &se) {
		t.Errorf("err %v, want a SymbolError naming _KTRAP_FRAME.Rip", err)
	}
}
