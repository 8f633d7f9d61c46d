package nt

import (
	"errors"
	"fmt"
)

// kdbgTag is _DBGKD_DEBUG_DATA_HEADER64.OwnerTag of the kernel's debugger
// data block: "KDBG".
const kdbgTag = 0x4742444B

// DebuggerData is what Frost reads of KdDebuggerDataBlock
// (_KDDEBUGGER_DATA64). Each pointer field holds the address of the kernel
// variable it names, as Windows fills it.
type DebuggerData struct {
	Address             uint64 // of KdDebuggerDataBlock
	Size                uint64 // Header.Size
	KernBase            uint64
	PsLoadedModuleList  uint64
	PsActiveProcessHead uint64
	MmPfnDatabase       uint64
	PteBase             uint64 // 0 on a build without the field
	NtBuildLab          uint64 // address of the build string
}

// ErrNoDebuggerDataType: the kernel's symbols have KdDebuggerDataBlock but
// not the _KDDEBUGGER_DATA64 type. Windows' own PDBs do not carry it (a
// debugger knows the protocol's layout); mini-NT's do. Frost reads no
// layout it is not given.
var ErrNoDebuggerDataType = errors.New("nt: the kernel's symbols have no _KDDEBUGGER_DATA64 type")

// ErrDebuggerDataEncoded: the block's OwnerTag is not KDBG, as on Windows
// builds that encode the block while no debugger is attached.
var ErrDebuggerDataEncoded = errors.New("nt: KdDebuggerDataBlock is encoded (its OwnerTag is not KDBG)")

// DebuggerData reads KdDebuggerDataBlock through the PDB.
func (k *Kernel) DebuggerData() (DebuggerData, error) {
	var d DebuggerData
	va, err := k.global("KdDebuggerDataBlock")
	if err != nil {
		return d, err
	}
	if _, err := k.lay.size("_KDDEBUGGER_DATA64"); err != nil {
		return d, fmt.Errorf("%w: %v", ErrNoDebuggerDataType, err)
	}
	o, err := k.readObject("_KDDEBUGGER_DATA64", k.dtb, va)
	if err != nil {
		return d, err
	}
	tag, err := o.uint("Header.OwnerTag")
	if err != nil {
		return d, err
	}
	if tag != kdbgTag {
		return d, fmt.Errorf("%w: %#x at %#x", ErrDebuggerDataEncoded, tag, va)
	}
	d.Address = va
	for _, f := range []struct {
		path string
		dst  *uint64
	}{
		{"Header.Size", &d.Size}, {"KernBase", &d.KernBase}, {"PsLoadedModuleList", &d.PsLoadedModuleList},
		{"PsActiveProcessHead", &d.PsActiveProcessHead}, {"MmPfnDatabase", &d.MmPfnDatabase}, {"NtBuildLab", &d.NtBuildLab},
	} {
		if *f.dst, err = o.uint(f.path); err != nil {
			return d, err
		}
	}
	if d.PteBase, err = o.uintOr("PteBase"); err != nil {
		return d, err
	}
	return d, nil
}
