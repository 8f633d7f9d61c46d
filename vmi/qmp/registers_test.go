package qmp

import (
	"errors"
	"testing"
)

func TestParseRegisters(t *testing.T) {
	cpus, err := ParseRegisters(readTestdata(t, "tcg-128/registers.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 1 || cpus[0].CPU != 0 {
		t.Fatalf("cpus %+v", cpus)
	}
	c := cpus[0]
	for name, want := range map[string]uint64{
		"RAX": 0xffffa000000022a0, "R8": 0xffff880000000000, "RIP": 0xfffff8024ee07602, "RFL": 0x246,
		"CR0": 0x80010011, "CR3": 0x114000, "CR4": 0x20, "DR7": 0x400, "DR6": 0xffff0ff0, "EFER": 0xd01,
		"CPL": 0, "HLT": 1,
	} {
		if got, ok := c.Values[name]; !ok || got != want {
			t.Errorf("%s = %#x (present %v), want %#x", name, got, ok, want)
		}
	}
	if c.IDT != (DescriptorTable{Base: 0xfffff8024ee0f2a0, Limit: 0xfff}) {
		t.Errorf("IDT %+v", c.IDT)
	}
	if c.GDT != (DescriptorTable{Base: 0xfffff8024ee0d1e0, Limit: 0x4f}) {
		t.Errorf("GDT %+v", c.GDT)
	}
	if s := c.Segments["GS"]; s.Base != 0xfffff8024ee102a0 {
		t.Errorf("GS %+v", s)
	}
	if s := c.Segments["TR"]; s.Selector != 0x40 || s.Base != 0xfffff8024ee0d230 || s.Limit != 0x6f || s.Flags != 0x8900 {
		t.Errorf("TR %+v", s)
	}
	if s := c.Segments["CS"]; s.Selector != 0x10 || s.Flags != 0x209a00 {
		t.Errorf("CS %+v", s)
	}
	if _, ok := c.Values["XMM00"]; ok {
		t.Error("vector registers parsed as scalars")
	}
}

func TestParseRegistersTwoCPUs(t *testing.T) {
	text := "\r\nCPU#0\r\nRAX=0000000000000001 RBX=0000000000000002\r\nIDT=     fffff80000001000 00000fff\r\n" +
		"CPU#1\r\nRAX=0000000000000003\r\nIDT=     0000000000000000 0000ffff\r\n"
	cpus, err := ParseRegisters(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 2 || cpus[1].CPU != 1 || cpus[1].Values["RAX"] != 3 || cpus[0].IDT.Base != 0xfffff80000001000 || cpus[1].IDT.Limit != 0xffff {
		t.Errorf("cpus %+v", cpus)
	}
}

func TestParseRegistersErrors(t *testing.T) {
	for _, text := range []string{
		"",
		"RAX=0000000000000001\n",
		"CPU#x\n",
		"CPU#0\nGDT=     zz 0\n",
		"CPU#0\nCS =0010 0000000000000000\n",
	} {
		var re *RegistersError
		if _, err := ParseRegisters(text); !errors.As(err, &re) {
			t.Errorf("%q: got %v, want *RegistersError", text, err)
		}
	}
}
