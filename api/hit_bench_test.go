package api

import (
	"testing"

	"github.com/frostvmi/frost/vmi"
)

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
		c := &hitIdentity{}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, p, err := c.thread(k, et); err != nil || p.Name != "writer.exe" {
				b.Fatal(p, err)
			}
		}
	})
}

// BenchmarkHitRegisters is converting a hit's register file: all of it
// (x87 and XMM included, what every hit carried before the selection) or
// the eight frostctl break prints.
func BenchmarkHitRegisters(b *testing.B) {
	_, _, tg := identityGuest(b)
	regs := tg.Regs(vmi.CPU{Pid: 1, Tid: 1})
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := selectedRegistersPB(regs, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("eight", func(b *testing.B) {
		names := []string{"rax", "rcx", "rdx", "rsp", "r8", "r9", "rip", "cr3"}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := selectedRegistersPB(regs, names); err != nil {
				b.Fatal(err)
			}
		}
	})
}
