package nt

import (
	"errors"
	"slices"
	"testing"
)

func TestStartAddresses(t *testing.T) {
	const k1, k2 = 0xfffff80000001000, 0xffffa00000002000
	for _, tc := range []struct {
		name string
		cfg  Config
		want []uint64
	}{
		{"kernel mode: rip first, duplicates once", Config{Registers: fakeRegisters{"cs": 0x10, "rip": k1, "rsp": k2, "gs_base": k2, "k_gs_base": 0}}, []uint64{k1, k2}},
		{"user mode: rip is not a start, the KPCR is", Config{Registers: fakeRegisters{"cs": 0x33, "rip": 0x7ff600001000, "rsp": 0x1000, "gs_base": 0x7ff00000, "k_gs_base": k2}}, []uint64{k2}},
		{"From alone", Config{From: k1, Registers: fakeRegisters{"cs": 0x10, "rip": k2}}, []uint64{k1}},
	} {
		got, err := startAddresses(HardwareMemory{}, tc.cfg)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %#x, %v; want %#x", tc.name, got, err, tc.want)
		}
	}
	_, err := startAddresses(HardwareMemory{}, Config{Registers: fakeRegisters{"cs": 0x33, "rip": 0x1000, "rsp": 0x2000, "gs_base": 0, "k_gs_base": 0}})
	if !errors.Is(err, ErrKernelNotFound) {
		t.Errorf("no kernel address at all: %v, want ErrKernelNotFound", err)
	}
}
