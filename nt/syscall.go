package nt

import (
	"encoding/binary"
	"fmt"
)

// At the first instruction of an Nt function reached through
// KiSystemCall64, the arguments are where the x64 calling convention puts
// them: the first four in rcx, rdx, r8 and r9 (KiSystemCall64 moves r10
// back to rcx), the rest on the kernel stack, which KiSystemCall64 copied
// from the user stack so that argument n (from 1) is at [rsp + 8n]: the
// return address at [rsp], the four home slots above it.

// argRegisters are the registers of arguments 1 to 4.
var argRegisters = [4]string{"rcx", "rdx", "r8", "r9"}

// MaxSyscallArgs bounds the argument index: no system service takes more
// than 17 arguments.
const MaxSyscallArgs = 32

// SyscallArg returns argument n (from 1) at the first instruction of an Nt
// function, reading the stack through the current CR3.
func (k *Kernel) SyscallArg(regs Registers, n int) (uint64, error) {
	if n < 1 || n > MaxSyscallArgs {
		return 0, fmt.Errorf("nt: syscall argument %d out of range 1..%d", n, MaxSyscallArgs)
	}
	if n <= len(argRegisters) {
		v, err := regs.Uint(argRegisters[n-1])
		if err != nil {
			return 0, fmt.Errorf("nt: reading %s: %w", argRegisters[n-1], err)
		}
		return v, nil
	}
	rsp, err := regs.Uint("rsp")
	if err != nil {
		return 0, fmt.Errorf("nt: reading rsp: %w", err)
	}
	cr3, err := regs.Uint("cr3")
	if err != nil {
		return 0, fmt.Errorf("nt: reading cr3: %w", err)
	}
	return k.readU64(fmt.Sprintf("syscall argument %d", n), cr3, rsp+8*uint64(n))
}

// SyscallArgs returns arguments 1..n.
func (k *Kernel) SyscallArgs(regs Registers, n int) ([]uint64, error) {
	out := make([]uint64, 0, n)
	for i := 1; i <= n; i++ {
		v, err := k.SyscallArg(regs, i)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// NtWriteFileArgs are NtWriteFile's arguments a monitor needs: FileHandle
// (1), Buffer (6), Length (7, a ULONG) and ByteOffset (8, a pointer to a
// LARGE_INTEGER, 0 when absent).
type NtWriteFileArgs struct {
	FileHandle uint64
	Buffer     uint64
	Length     uint32
	ByteOffset uint64
}

// NtWriteFile reads NtWriteFile's arguments at its first instruction.
func (k *Kernel) NtWriteFile(regs Registers) (NtWriteFileArgs, error) {
	var a NtWriteFileArgs
	var err error
	if a.FileHandle, err = k.SyscallArg(regs, 1); err != nil {
		return a, err
	}
	if a.Buffer, err = k.SyscallArg(regs, 6); err != nil {
		return a, err
	}
	length, err := k.SyscallArg(regs, 7)
	if err != nil {
		return a, err
	}
	// A ULONG in a 64-bit slot: the upper half is whatever the caller
	// left there.
	a.Length = uint32(length)
	if a.ByteOffset, err = k.SyscallArg(regs, 8); err != nil {
		return a, err
	}
	return a, nil
}

// ReadArgument reads n bytes at a user or kernel VA an argument points to,
// through the current CR3: a buffer, a UNICODE_STRING, a LARGE_INTEGER.
func (k *Kernel) ReadArgument(regs Registers, va uint64, p []byte) error {
	cr3, err := regs.Uint("cr3")
	if err != nil {
		return fmt.Errorf("nt: reading cr3: %w", err)
	}
	return k.read("syscall argument data", cr3, va, p)
}

// ByteOffsetValue reads the LARGE_INTEGER ByteOffset points to; ok is
// false when the caller passed none.
func (k *Kernel) ByteOffsetValue(regs Registers, a NtWriteFileArgs) (off int64, ok bool, err error) {
	if a.ByteOffset == 0 {
		return 0, false, nil
	}
	var b [8]byte
	if err := k.ReadArgument(regs, a.ByteOffset, b[:]); err != nil {
		return 0, false, err
	}
	return int64(binary.LittleEndian.Uint64(b[:])), true, nil
}

// ReadVirtual reads guest memory in dtb's address space through the
// kernel's reader (translate, in a kernel from Open).
func (k *Kernel) ReadVirtual(dtb, va uint64, p []byte) error {
	return k.read("memory", dtb, va, p)
}
