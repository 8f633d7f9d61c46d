package winboot

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// withIDT gives a fake target the monitor's view of vCPU 0's IDT.
type withIDT struct {
	*vmitest.Target
	idt uint64
}

func (w withIDT) SystemRegisters(context.Context) ([]vmi.CPURegisters, error) {
	return []vmi.CPURegisters{{IDT: vmi.DescriptorTable{Base: w.idt, Limit: 0xfff}}}, nil
}

// gate writes an x86-64 interrupt gate for handler (SDM vol. 3, 6.14.1).
func gate(handler uint64) []byte {
	g := make([]byte, 16)
	binary.LittleEndian.PutUint16(g[0:], uint16(handler))
	binary.LittleEndian.PutUint16(g[2:], 0x10)
	g[5] = 0x8e // present, DPL 0, 64-bit interrupt gate
	binary.LittleEndian.PutUint16(g[6:], uint16(handler>>16))
	binary.LittleEndian.PutUint32(g[8:], uint32(handler>>32))
	return g
}

// A kernel that is not Windows is told apart from a Windows boot that has
// not reached ntoskrnl: by where its IDT sends divide errors.
func TestNotWindowsByItsIDT(t *testing.T) {
	ctx := testCtx(t)
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := nttest.NewGuest(t, tg, nttest.RealISF(t))
	// A page of IDT, and far from the kernel image another kernel's text.
	const idt, other = nttest.KernelBase - 0x1000_0000, nttest.KernelBase - 0x4000_0000
	g.Map(idt, 0x1000, false)
	g.Map(other, 0x1000, false)
	stop := &vmi.Stop{Registers: nil}
	if err := tg.SetRegs(cpu0, g.Registers(nttest.KernelBase+0x1000, nttest.StackTop-0x800)); err != nil {
		t.Fatal(err)
	}
	if stop.Registers, err = tg.Registers(ctx, cpu0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		idt     uint64
		handler uint64
		not     bool
	}{
		{"Windows: the handler is ntoskrnl's", idt, nttest.KernelBase + 0x1000, false},
		{"another kernel's handler", idt, other + 0x10, true},
		{"a loader's IDT in the low half", 0x7000, 0, false},
		{"a handler in the low half", idt, 0x100000, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.idt == idt {
				g.Write(idt, gate(c.handler))
			}
			b := &boot{tgt: withIDT{tg, c.idt}}
			err := b.notWindows(ctx, stop)
			if got := errors.Is(err, ErrNotWindows); got != c.not {
				t.Fatalf("notWindows: %v, want not-Windows %v", err, c.not)
			}
			if c.not && !strings.Contains(err.Error(), "in no Windows kernel image") {
				t.Errorf("the error does not say why: %v", err)
			}
		})
	}
	// A target without a monitor cannot tell: the deadline decides.
	if err := (&boot{tgt: tg}).notWindows(ctx, stop); err != nil {
		t.Errorf("without a monitor: %v", err)
	}
}
