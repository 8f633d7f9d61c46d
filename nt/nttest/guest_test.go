package nttest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// nt.Open finds the laid-out kernel from a stop's registers, as in a live
// guest, and reads its process list.
func TestOpenFindsTheKernel(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := nttest.NewGuest(t, tg, nttest.RealISF(t))
	g.Process(4, 0, "System")
	regs, err := vmitest.Registers(vmi.CPU{Pid: 1, Tid: 1}, g.Registers(g.Global("NtCreatePagingFile")+3, g.Call(0x1234)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := nt.Open(context.Background(), nt.Config{Physical: vmi.ReaderAt(tg), Registers: regs, Symbols: &nttest.Loader{Tab: g.Tab}})
	if err != nil {
		t.Fatal(err)
	}
	if k.Base() != nttest.KernelBase {
		t.Errorf("base %#x", k.Base())
	}
	if p, err := k.ProcessByName("system"); err != nil || p.PID != 4 {
		t.Errorf("System: %+v %v", p, err)
	}
	if _, err := k.ProcessByName("csrss.exe"); !errors.Is(err, nt.ErrNoProcess) {
		t.Errorf("csrss.exe: %v", err)
	}
}
