package nt_test

import (
	"context"
	"testing"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// identityGuest is nttest's fake kernel (the real Windows 10 layouts) on a
// vmitest target, opened; the test makes its processes and threads.
func identityGuest(t testing.TB) (*nttest.Guest, *nt.Opened, *vmitest.Target) {
	t.Helper()
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := nttest.NewGuest(t, tg, nttest.RealISF(t))
	cpu := vmi.CPU{Pid: 1, Tid: 1}
	if err := tg.SetRegs(cpu, g.Registers(nttest.KernelBase+0x1000, nttest.StackTop-0x800)); err != nil {
		t.Fatal(err)
	}
	k, err := nt.Open(context.Background(), nt.Config{Physical: vmi.ReaderAt(tg), Registers: tg.Regs(cpu), Symbols: &nttest.Loader{Tab: g.Tab}})
	if err != nil {
		t.Fatal(err)
	}
	return g, k, tg
}

// thread makes an ETHREAD of the process at ep.
func identityThread(g *nttest.Guest, ep, tid, pid uint64) uint64 {
	et := g.AllocType("_ETHREAD")
	setThread(g, et, ep, tid, pid)
	return et
}

func setThread(g *nttest.Guest, et, ep, tid, pid uint64) {
	g.Set("_ETHREAD", et, "Cid.UniqueThread", tid)
	g.Set("_ETHREAD", et, "Cid.UniqueProcess", pid)
	kp := g.Addr("_EPROCESS", ep, "Pcb")
	g.Set("_ETHREAD", et, "Tcb.Process", kp)
	g.Set("_ETHREAD", et, "Tcb.ApcState.Process", kp)
}

// TestHitIdentityCache: a thread seen before is confirmed by its Cid and
// its process's id, not read again; an ETHREAD now holding another
// thread, a process gone, and a reset each make it read afresh.
func TestHitIdentityCache(t *testing.T) {
	g, k, _ := identityGuest(t)
	writer := g.Process(0x44, 4, "writer.exe")
	other := g.Process(0x88, 4, "other.exe")
	et := identityThread(g, writer, 0x48, 0x44)
	c := nt.NewThreadIdentities(0)

	want := func(step string, tid, pid uint64, name string) {
		t.Helper()
		gotTid, gotPid, p, err := c.Thread(k.Kernel, et)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		gotName := ""
		if p != nil {
			gotName = p.Name
		}
		if gotTid != tid || gotPid != pid || gotName != name {
			t.Fatalf("%s: tid %#x pid %#x %q, want %#x %#x %q", step, gotTid, gotPid, gotName, tid, pid, name)
		}
	}
	counts := func(step string, hits, misses, refused uint64) {
		t.Helper()
		if h, m, r := c.Stats(); h != hits || m != misses || r != refused {
			t.Fatalf("%s: %d hits, %d misses, %d refused; want %d, %d, %d", step, h, m, r, hits, misses, refused)
		}
	}

	want("first", 0x48, 0x44, "writer.exe")
	counts("first", 0, 1, 0)
	want("again", 0x48, 0x44, "writer.exe")
	counts("again", 1, 1, 0)
	if c.Len() == 0 { // threads are kept only when both members were found
		t.Fatal("the real layouts' Cid and UniqueProcessId were not found")
	}

	// The ETHREAD freed and reused by a thread of another process.
	setThread(g, et, other, 0x8c, 0x88)
	want("reused ETHREAD", 0x8c, 0x88, "other.exe")
	counts("reused ETHREAD", 1, 2, 1)
	want("reused, again", 0x8c, 0x88, "other.exe")
	counts("reused, again", 2, 2, 1)

	// The process gone (its id cleared, as an exiting EPROCESS's may be):
	// the thread still names pid 0x88, which no process has now.
	g.Set("_EPROCESS", other, "UniqueProcessId", 0)
	want("process gone", 0x8c, 0x88, "")
	counts("process gone", 2, 3, 2)

	g.Set("_EPROCESS", other, "UniqueProcessId", 0x88)
	want("back", 0x8c, 0x88, "other.exe")
	c.Reset()
	want("after a reset", 0x8c, 0x88, "other.exe")
	counts("after a reset", 2, 5, 2)
}

// TestHitIdentityBounded: the cache never holds more than its limit
// (maxIdentities in frostd; 2 here, the fake kernel's pool being small).
func TestHitIdentityBounded(t *testing.T) {
	g, k, _ := identityGuest(t)
	ep := g.Process(0x44, 4, "writer.exe")
	c := nt.NewThreadIdentities(2)
	// All made before the first read: the kernel's translator keeps what
	// it learnt of the page tables, and these are new pages.
	var threads []uint64
	for i := range uint64(5) {
		threads = append(threads, identityThread(g, ep, 0x100+4*i, 0x44))
	}
	for i, et := range threads {
		if _, _, p, err := c.Thread(k.Kernel, et); err != nil || p == nil {
			t.Fatalf("thread %d: %v, %v", i, p, err)
		}
		if c.Len() > 2 || c.Len() == 0 {
			t.Fatalf("%d threads cached, want 1 to 2", c.Len())
		}
	}
}

// BenchmarkHitIdentity is naming a hit's thread and process on nttest's
// fake kernel holding 40 processes, the hitting one last on the list:
// "read" is what each hit cost before the cache (the whole ETHREAD, then
// PsActiveProcessHead walked to the pid), "cached" a thread seen before
// (its Cid and its process's id re-read).
func BenchmarkHitIdentity(b *testing.B) {
	g, k, _ := identityGuest(b)
	for i := range uint64(39) {
		g.Process(0x100+4*i, 4, "filler.exe")
	}
	ep := g.Process(0x44, 4, "writer.exe")
	et := identityThread(g, ep, 0x48, 0x44)
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			th, err := k.ThreadAt(et)
			if err != nil {
				b.Fatal(err)
			}
			if p, err := k.ProcessByPID(th.PID); err != nil || p.Name != "writer.exe" {
				b.Fatal(p, err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := nt.NewThreadIdentities(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, p, err := c.Thread(k.Kernel, et); err != nil || p.Name != "writer.exe" {
				b.Fatal(p, err)
			}
		}
	})
}
