package nt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// ErrNoPEB: the process has no PEB (System, Idle, a minimal process), or
// its PEB has no loader data or parameters yet.
var ErrNoPEB = errors.New("nt: process has no PEB")

// maxEnvironment bounds the environment block read from a process: Windows
// caps a block at 32767 characters per variable, and real blocks are a few
// KiB.
const maxEnvironment = 1 << 16

// ModuleOrder names one of the PEB loader's three module lists.
type ModuleOrder int

const (
	LoadOrder           ModuleOrder = iota // InLoadOrderModuleList: the exe first
	MemoryOrder                            // InMemoryOrderModuleList
	InitializationOrder                    // InInitializationOrderModuleList: DLLs whose initialisation ran, ntdll first
)

func (o ModuleOrder) String() string {
	switch o {
	case LoadOrder:
		return "load order"
	case MemoryOrder:
		return "memory order"
	case InitializationOrder:
		return "initialization order"
	}
	return fmt.Sprintf("ModuleOrder(%d)", int(o))
}

// list and link are the _PEB_LDR_DATA list head and the
// _LDR_DATA_TABLE_ENTRY link of the order.
func (o ModuleOrder) fields() (list, link string, err error) {
	switch o {
	case LoadOrder:
		return "InLoadOrderModuleList", "InLoadOrderLinks", nil
	case MemoryOrder:
		return "InMemoryOrderModuleList", "InMemoryOrderLinks", nil
	case InitializationOrder:
		return "InInitializationOrderModuleList", "InInitializationOrderLinks", nil
	}
	return "", "", fmt.Errorf("nt: unknown module order %d", int(o))
}

// UserModule is one entry of a process's PEB loader lists: the exe or a
// DLL as the process's loader recorded it.
type UserModule struct {
	Entry      uint64 // user VA of the _LDR_DATA_TABLE_ENTRY
	Base       uint64 // DllBase
	Size       uint64 // SizeOfImage
	EntryPoint uint64
	Name       string // BaseDllName: ntdll.dll
	FullName   string // FullDllName: C:\Windows\System32\ntdll.dll
}

func (m UserModule) String() string {
	return fmt.Sprintf("%s %#x-%#x", m.Name, m.Base, m.Base+m.Size)
}

// Contains reports whether va lies in the module's image.
func (m UserModule) Contains(va uint64) bool { return va >= m.Base && va-m.Base < m.Size }

// peb reads p's _PEB (in p's address space).
func (k *Kernel) peb(p Process) (*object, error) {
	if p.Peb == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoPEB, p)
	}
	return k.readObject("_PEB", p.DTB, p.Peb)
}

// ProcessModules lists p's modules from its PEB's InLoadOrderModuleList
// (the exe first), as the process's loader keeps them. The list lives in
// user memory; a truncated, looping or overlong list fails with the
// modules read before the fault.
func (k *Kernel) ProcessModules(p Process) ([]UserModule, error) {
	return k.ProcessModulesIn(p, LoadOrder)
}

// ProcessModulesIn lists p's modules in one of the three loader orders.
func (k *Kernel) ProcessModulesIn(p Process, order ModuleOrder) ([]UserModule, error) {
	listField, linkField, err := order.fields()
	if err != nil {
		return nil, err
	}
	peb, err := k.peb(p)
	if err != nil {
		return nil, err
	}
	ldr, err := peb.uint("Ldr")
	if err != nil {
		return nil, err
	}
	if ldr == 0 {
		return nil, fmt.Errorf("%w: %s: PEB.Ldr is null (the loader has not run)", ErrNoPEB, p)
	}
	headOff, err := k.lay.offset("_PEB_LDR_DATA." + listField)
	if err != nil {
		return nil, err
	}
	linkOff, err := k.lay.offset("_LDR_DATA_TABLE_ENTRY." + linkField)
	if err != nil {
		return nil, err
	}
	var out []UserModule
	what := fmt.Sprintf("pid %d %s", p.PID, listField)
	err = k.walkList(what, p.DTB, ldr+headOff, k.limits.Modules, func(link uint64) error {
		m, err := k.userModuleAt(p.DTB, link-linkOff)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

func (k *Kernel) userModuleAt(dtb, va uint64) (UserModule, error) {
	o, err := k.readObject("_LDR_DATA_TABLE_ENTRY", dtb, va)
	if err != nil {
		return UserModule{}, err
	}
	m := UserModule{Entry: va}
	if m.Base, err = o.uint("DllBase"); err != nil {
		return m, err
	}
	if m.Size, err = o.uint("SizeOfImage"); err != nil {
		return m, err
	}
	if m.EntryPoint, err = o.uintOr("EntryPoint"); err != nil {
		return m, err
	}
	if m.Name, err = k.unicodeFrom(dtb, o, "BaseDllName"); err != nil {
		return m, err
	}
	if m.FullName, err = k.unicodeFrom(dtb, o, "FullDllName"); err != nil {
		return m, err
	}
	return m, nil
}

// ProcessParameters is what a process's _RTL_USER_PROCESS_PARAMETERS say.
type ProcessParameters struct {
	Address          uint64 // user VA of the block
	ImageBase        uint64 // PEB.ImageBaseAddress
	ImagePath        string
	CommandLine      string
	CurrentDirectory string
	// Environment holds the block's NAME=value strings in order;
	// EnvironmentAddress is where the block is.
	Environment        []string
	EnvironmentAddress uint64
}

// Getenv returns the value of the variable name (case-insensitive, as
// Windows compares them).
func (pp ProcessParameters) Getenv(name string) (string, bool) {
	for _, v := range pp.Environment {
		// "=C:=C:\" variables start with '=': the name ends at the next one.
		start := 0
		if strings.HasPrefix(v, "=") {
			start = 1
		}
		i := strings.IndexByte(v[start:], '=')
		if i >= 0 && strings.EqualFold(v[:start+i], name) {
			return v[start+i+1:], true
		}
	}
	return "", false
}

// ProcessParameters reads p's PEB.ProcessParameters. Pointers in the block
// are absolute once the process runs (Windows "normalizes" them before the
// first instruction); a block still holding offsets
// (RTL_USER_PROC_PARAMS_NORMALIZED clear) is rebased on its address.
func (k *Kernel) ProcessParameters(p Process) (ProcessParameters, error) {
	peb, err := k.peb(p)
	if err != nil {
		return ProcessParameters{}, err
	}
	var pp ProcessParameters
	if pp.ImageBase, err = peb.uintOr("ImageBaseAddress"); err != nil {
		return pp, err
	}
	if pp.Address, err = peb.uint("ProcessParameters"); err != nil {
		return pp, err
	}
	if pp.Address == 0 {
		return pp, fmt.Errorf("%w: %s: PEB.ProcessParameters is null", ErrNoPEB, p)
	}
	o, err := k.readObject("_RTL_USER_PROCESS_PARAMETERS", p.DTB, pp.Address)
	if err != nil {
		return pp, err
	}
	flags, err := o.uintOr("Flags")
	if err != nil {
		return pp, err
	}
	rebase := uint64(0)
	if flags&1 == 0 { // not normalized: Buffer and Environment are offsets
		rebase = pp.Address
	}
	str := func(path string) (string, error) {
		length, err := o.uint(path + ".Length")
		if err != nil {
			return "", err
		}
		maxLen, err := o.uintOr(path + ".MaximumLength")
		if err != nil {
			return "", err
		}
		buf, err := o.uint(path + ".Buffer")
		if err != nil {
			return "", err
		}
		if buf != 0 {
			buf += rebase
		}
		return k.utf16At(p.DTB, buf, length, maxLen, o.va)
	}
	if pp.ImagePath, err = str("ImagePathName"); err != nil {
		return pp, err
	}
	if pp.CommandLine, err = str("CommandLine"); err != nil {
		return pp, err
	}
	if k.lay.has("_RTL_USER_PROCESS_PARAMETERS.CurrentDirectory.DosPath") {
		if pp.CurrentDirectory, err = str("CurrentDirectory.DosPath"); err != nil {
			return pp, err
		}
	}
	env, err := o.uintOr("Environment")
	if err != nil || env == 0 {
		return pp, err
	}
	pp.EnvironmentAddress = env + rebase
	size, err := o.uintOr("EnvironmentSize")
	if err != nil {
		return pp, err
	}
	pp.Environment, err = k.environment(p.DTB, pp.EnvironmentAddress, size)
	return pp, err
}

// environment reads an environment block: UTF-16 NAME=value strings, each
// NUL-terminated, the block ended by an empty one. size (EnvironmentSize,
// 0 when unknown) bounds it, and maxEnvironment always does; a block with
// no end within its bound is corrupt. Pages are read one at a time, so a
// block at the end of its region is read without touching the next page.
func (k *Kernel) environment(dtb, va, size uint64) ([]string, error) {
	limit := uint64(maxEnvironment)
	if size != 0 && size < limit {
		limit = size
	}
	var vars []string
	var cur []uint16
	for off := uint64(0); off < limit; {
		n := min(pageSize-(va+off)%pageSize, limit-off) &^ 1
		if n == 0 {
			break
		}
		buf := make([]byte, n)
		if err := k.read("environment block", dtb, va+off, buf); err != nil {
			return vars, err
		}
		for i := uint64(0); i+1 < n; i += 2 {
			c := binary.LittleEndian.Uint16(buf[i:])
			if c != 0 {
				cur = append(cur, c)
				continue
			}
			if len(cur) == 0 {
				return vars, nil
			}
			vars = append(vars, string(utf16.Decode(cur)))
			cur = cur[:0]
		}
		off += n
	}
	if size != 0 && len(cur) == 0 {
		return vars, nil // EnvironmentSize without the final NUL counted
	}
	return vars, &WalkError{What: "environment block", At: va, Err: ErrCorrupt,
		Msg: fmt.Sprintf("no terminating empty string within %d bytes", limit)}
}

// pageSize is x64's small page: a read in guest memory that crosses one
// may fail on the next page while this one is fine.
const pageSize = 0x1000

// TEBInfo is what a thread's _TEB says about itself.
type TEBInfo struct {
	Address    uint64 // user VA of the TEB
	Self       uint64 // NtTib.Self: the TEB's own address, as gs:[0x30] reads it
	StackBase  uint64 // NtTib.StackBase (the top)
	StackLimit uint64 // NtTib.StackLimit
	PEB        uint64 // ProcessEnvironmentBlock
	PID, TID   uint64 // ClientId
}

// TEB reads the _TEB at teb in p's address space (Thread.Teb).
func (k *Kernel) TEB(p Process, teb uint64) (TEBInfo, error) {
	if teb == 0 {
		return TEBInfo{}, fmt.Errorf("nt: %s: thread has no TEB", p)
	}
	o, err := k.readObject("_TEB", p.DTB, teb)
	if err != nil {
		return TEBInfo{}, err
	}
	t := TEBInfo{Address: teb}
	for _, f := range []struct {
		path string
		dst  *uint64
	}{
		{"NtTib.Self", &t.Self}, {"NtTib.StackBase", &t.StackBase}, {"NtTib.StackLimit", &t.StackLimit},
		{"ProcessEnvironmentBlock", &t.PEB}, {"ClientId.UniqueProcess", &t.PID}, {"ClientId.UniqueThread", &t.TID},
	} {
		if *f.dst, err = o.uint(f.path); err != nil {
			return t, err
		}
	}
	return t, nil
}
