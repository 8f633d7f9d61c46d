package minint

import "fmt"

// The structures Windows' debuggers and analysis tools find on their own
// (issue 15), as the guest reports them: typed views of the kdbg,
// kd-version-block, selfmap, shared-data, service-table and service
// events.

// DebuggerData is the kdbg event: KdDebuggerDataBlock's address and the
// fields the guest filled.
type DebuggerData struct {
	Address             uint64 // of KdDebuggerDataBlock
	Size                uint64 // Header.Size
	KernBase            uint64
	PsLoadedModuleList  uint64 // address of the list head
	PsActiveProcessHead uint64 // address of the list head
	MmPfnDatabase       uint64 // address of the MmPfnDatabase variable
	PfnDatabase         uint64 // its value: the database itself
	PteBase             uint64
	BuildLab            string // the string NtBuildLab points at
	OffsetEprocessDTB   uint64 // OffsetEprocessDirectoryTableBase
	SizeEprocess        uint64
}

// VersionBlock is the kd-version-block event: KdVersionBlock.
type VersionBlock struct {
	Address          uint64
	Major, Minor     uint64
	Machine          uint64
	KernBase         uint64
	DebuggerDataList uint64 // address of the list head the KDBG is on
}

// SelfMap is the selfmap event: the page-table self-map and the System
// DTB.
type SelfMap struct {
	Index                              uint64 // of the self-referencing PML4 entry
	PteBase, PdeBase, PpeBase, PxeBase uint64
	SystemDTB                          uint64
}

// SharedData is the shared-data event: KUSER_SHARED_DATA as the kernel
// set it up in phase 0.
type SharedData struct {
	VA, UserVA, PA   uint64
	NtMajor, NtMinor uint64
	Build            uint64
	ProductType      uint64
	Processors       uint64
	PhysicalPages    uint64
	SystemRoot       string
	SystemTime       uint64 // at phase 0, 100 ns units since 1601
}

// ServiceTable is the service-table event and its service events:
// KiServiceTable with each entry as stored and decoded.
type ServiceTable struct {
	Address uint64
	Limit   uint64
	Entries []ServiceEntry
}

// ServiceEntry is one service event.
type ServiceEntry struct {
	Number    uint64
	Entry     uint32 // as stored: (routine - table) << 4 | arguments
	Routine   uint64
	Arguments uint64
}

// uints reads every key of e into the matching pointer.
func uints(e Event, fields map[string]*uint64) error {
	for key, p := range fields {
		v, err := e.Uint(key)
		if err != nil {
			return err
		}
		*p = v
	}
	return nil
}

func (r Report) only(name string) (Event, error) {
	all := r.All(name)
	if len(all) != 1 {
		return Event{}, fmt.Errorf("minint: the report has %d %s events, want 1", len(all), name)
	}
	return all[0], nil
}

// DebuggerData returns the kdbg event.
func (r Report) DebuggerData() (DebuggerData, error) {
	var d DebuggerData
	e, err := r.only("kdbg")
	if err != nil {
		return d, err
	}
	if tag := e.Get("owner-tag"); tag != "KDBG" {
		return d, fmt.Errorf("minint: kdbg owner-tag=%q, want KDBG: %q", tag, e.Line)
	}
	d.BuildLab = e.Get("build-lab")
	return d, uints(e, map[string]*uint64{
		"address": &d.Address, "size": &d.Size, "kern-base": &d.KernBase,
		"ps-loaded-module-list": &d.PsLoadedModuleList, "ps-active-process-head": &d.PsActiveProcessHead,
		"mm-pfn-database": &d.MmPfnDatabase, "pfn-database": &d.PfnDatabase, "pte-base": &d.PteBase,
		"offset-eprocess-dtb": &d.OffsetEprocessDTB, "size-eprocess": &d.SizeEprocess,
	})
}

// VersionBlock returns the kd-version-block event.
func (r Report) VersionBlock() (VersionBlock, error) {
	var v VersionBlock
	e, err := r.only("kd-version-block")
	if err != nil {
		return v, err
	}
	return v, uints(e, map[string]*uint64{
		"address": &v.Address, "major": &v.Major, "minor": &v.Minor, "machine": &v.Machine,
		"kern-base": &v.KernBase, "debugger-data-list": &v.DebuggerDataList,
	})
}

// SelfMap returns the selfmap event.
func (r Report) SelfMap() (SelfMap, error) {
	var s SelfMap
	e, err := r.only("selfmap")
	if err != nil {
		return s, err
	}
	if err := uints(e, map[string]*uint64{
		"index": &s.Index, "pte-base": &s.PteBase, "pde-base": &s.PdeBase, "ppe-base": &s.PpeBase,
		"pxe-base": &s.PxeBase, "system-dtb": &s.SystemDTB,
	}); err != nil {
		return s, err
	}
	// The four bases follow from the index; a report where they do not
	// is a guest bug the tests must not build on.
	pte := 0xFFFF000000000000 | s.Index<<39
	if s.Index < 0x100 || s.Index > 0x1FE || s.PteBase != pte || s.PdeBase != pte+s.Index<<30 ||
		s.PpeBase != pte+s.Index<<30+s.Index<<21 || s.PxeBase != pte+s.Index<<30+s.Index<<21+s.Index<<12 {
		return s, fmt.Errorf("minint: selfmap bases do not follow from index %#x: %q", s.Index, e.Line)
	}
	return s, nil
}

// SharedData returns the shared-data event.
func (r Report) SharedData() (SharedData, error) {
	var s SharedData
	e, err := r.only("shared-data")
	if err != nil {
		return s, err
	}
	s.SystemRoot = e.Get("system-root")
	return s, uints(e, map[string]*uint64{
		"va": &s.VA, "user-va": &s.UserVA, "pa": &s.PA, "nt-major": &s.NtMajor, "nt-minor": &s.NtMinor,
		"build": &s.Build, "product-type": &s.ProductType, "processors": &s.Processors,
		"physical-pages": &s.PhysicalPages, "system-time": &s.SystemTime,
	})
}

// ServiceTable returns the service-table event and its service events,
// checking that each entry decodes to the routine the guest names.
func (r Report) ServiceTable() (ServiceTable, error) {
	var t ServiceTable
	e, err := r.only("service-table")
	if err != nil {
		return t, err
	}
	if err := uints(e, map[string]*uint64{"address": &t.Address, "limit": &t.Limit}); err != nil {
		return t, err
	}
	for _, se := range r.All("service") {
		var s ServiceEntry
		var entry uint64
		if err := uints(se, map[string]*uint64{
			"number": &s.Number, "entry": &entry, "routine": &s.Routine, "arguments": &s.Arguments,
		}); err != nil {
			return t, err
		}
		if entry > 0xFFFFFFFF || s.Number != uint64(len(t.Entries)) {
			return t, fmt.Errorf("minint: service event out of order or entry too wide: %q", se.Line)
		}
		s.Entry = uint32(entry)
		if DecodeServiceEntry(t.Address, s.Entry) != s.Routine || uint64(s.Entry&15) != s.Arguments {
			return t, fmt.Errorf("minint: service %d: entry %#x does not decode to routine %#x with %d arguments",
				s.Number, s.Entry, s.Routine, s.Arguments)
		}
		t.Entries = append(t.Entries, s)
	}
	if uint64(len(t.Entries)) != t.Limit {
		return t, fmt.Errorf("minint: %d service events, want limit=%d", len(t.Entries), t.Limit)
	}
	return t, nil
}

// DecodeServiceEntry decodes an x64 KiServiceTable entry as the system
// call dispatcher does: the table's address plus the entry shifted right
// by 4, arithmetically (a routine may lie below the table).
func DecodeServiceEntry(table uint64, entry uint32) uint64 {
	return table + uint64(int64(int32(entry))>>4)
}
