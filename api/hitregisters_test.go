package api

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

func TestSelectedRegisters(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cpu := vmi.CPU{Pid: 1, Tid: 1}
	if err := tg.SetRegs(cpu, map[string]uint64{"rip": 0xfffff80000401000, "rsp": 0xffffa00000800000, "rcx": 7}); err != nil {
		t.Fatal(err)
	}
	regs := tg.Regs(cpu)

	got, err := selectedRegistersPB(regs, []string{"rsp", "rip", "rcx"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got.GetRegisters() {
		names = append(names, r.GetName())
	}
	if len(names) != 3 || names[0] != "rsp" || names[1] != "rip" || names[2] != "rcx" {
		t.Fatalf("registers %v, want rsp, rip, rcx in that order", names)
	}
	if v := got.GetRegisters()[1].GetValue(); v != 0xfffff80000401000 {
		t.Errorf("rip %#x", v)
	}
	if v := got.GetRegisters()[2].GetValue(); v != 7 || len(got.GetRegisters()[2].GetRaw()) != 8 {
		t.Errorf("rcx %#x, %d raw bytes", v, len(got.GetRegisters()[2].GetRaw()))
	}

	// No selection: the whole file, as before the field existed.
	all, err := selectedRegistersPB(regs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(all, registersPB(regs)) || len(all.GetRegisters()) <= 3 {
		t.Errorf("no selection gave %d registers, not the whole file", len(all.GetRegisters()))
	}

	if _, err := selectedRegistersPB(regs, []string{"rip", "xmm99"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("an unknown register: %v, want InvalidArgument", err)
	}
}

func TestCheckRegisterSelection(t *testing.T) {
	many := make([]string, maxSelectedRegisters+1)
	for i := range many {
		many[i] = "r" + uitoa(uint64(i))
	}
	for _, tc := range []struct {
		names []string
		ok    bool
	}{
		{nil, true},
		{[]string{"rip", "rsp"}, true},
		{[]string{"rip", ""}, false},
		{[]string{"rip", "rip"}, false},
		{many, false},
	} {
		err := checkRegisterSelection(tc.names)
		if (err == nil) != tc.ok || (err != nil && status.Code(err) != codes.InvalidArgument) {
			t.Errorf("%d names %.3v: %v", len(tc.names), tc.names, err)
		}
	}
}
