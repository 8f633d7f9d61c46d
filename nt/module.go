package nt

import "fmt"

// Module is one loaded kernel module (driver) on PsLoadedModuleList.
type Module struct {
	Entry      uint64 // kernel VA of the _KLDR_DATA_TABLE_ENTRY
	Base       uint64 // DllBase
	Size       uint64 // SizeOfImage
	EntryPoint uint64
	Name       string // BaseDllName: ntoskrnl.exe, hal.dll, ...
	FullName   string // FullDllName: \SystemRoot\system32\ntoskrnl.exe
}

func (m Module) String() string {
	return fmt.Sprintf("%s %#x-%#x", m.Name, m.Base, m.Base+m.Size)
}

// Contains reports whether va lies in the module's image.
func (m Module) Contains(va uint64) bool { return va >= m.Base && va-m.Base < m.Size }

// Drivers lists PsLoadedModuleList in load order (ntoskrnl first). On an
// error the modules read before it come with it.
func (k *Kernel) Drivers() ([]Module, error) {
	head, err := k.global("PsLoadedModuleList")
	if err != nil {
		return nil, err
	}
	linkOff, err := k.lay.offset("_KLDR_DATA_TABLE_ENTRY.InLoadOrderLinks")
	if err != nil {
		return nil, err
	}
	var out []Module
	err = k.walkList("PsLoadedModuleList", k.dtb, head, k.limits.Modules, func(link uint64) error {
		m, err := k.moduleAt(link - linkOff)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

func (k *Kernel) moduleAt(va uint64) (Module, error) {
	o, err := k.readObject("_KLDR_DATA_TABLE_ENTRY", k.dtb, va)
	if err != nil {
		return Module{}, err
	}
	m := Module{Entry: va}
	if m.Base, err = o.uint("DllBase"); err != nil {
		return m, err
	}
	if m.Size, err = o.uint("SizeOfImage"); err != nil {
		return m, err
	}
	if m.EntryPoint, err = o.uintOr("EntryPoint"); err != nil {
		return m, err
	}
	if m.Name, err = k.unicodeFrom(k.dtb, o, "BaseDllName"); err != nil {
		return m, err
	}
	if k.lay.has("_KLDR_DATA_TABLE_ENTRY.FullDllName") {
		if m.FullName, err = k.unicodeFrom(k.dtb, o, "FullDllName"); err != nil {
			return m, err
		}
	}
	return m, nil
}

// DriverAt returns the loaded module that contains va.
func (k *Kernel) DriverAt(va uint64) (Module, bool, error) {
	mods, err := k.Drivers()
	for _, m := range mods {
		if m.Contains(va) {
			return m, true, nil
		}
	}
	return Module{}, false, err
}
