package api

import (
	"testing"

	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// BenchmarkHitRegisters is converting a hit's register file: all of it
// (x87 and XMM included, what every hit carried before the selection) or
// the eight frostctl break prints.
func BenchmarkHitRegisters(b *testing.B) {
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		b.Fatal(err)
	}
	g := nttest.NewGuest(b, tg, nttest.RealISF(b))
	cpu := vmi.CPU{Pid: 1, Tid: 1}
	if err := tg.SetRegs(cpu, g.Registers(nttest.KernelBase+0x1000, nttest.StackTop-0x800)); err != nil {
		b.Fatal(err)
	}
	regs := tg.Regs(cpu)
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
