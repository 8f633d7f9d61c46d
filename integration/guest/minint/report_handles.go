package minint

import "fmt"

// The system's handles as smss lists them with
// NtQuerySystemInformation(SystemExtendedHandleInformation) just before
// `ready`: the system-handles event (the record count) and one
// system-handle event per SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX.

// SystemHandle is one system-handle event.
type SystemHandle struct {
	PID        uint64
	Handle     uint64
	Object     uint64 // the object's body
	TypeIndex  uint64 // decoded index into ObTypeIndexTable
	Access     uint64
	Attributes uint64
}

// kernelHalf is the lowest kernel-mode address of x64 Windows.
const kernelHalf = 0xffff_8000_0000_0000

// SystemHandles returns the system-handle events in report order, after
// checking that there are as many as the system-handles event counted,
// each a valid handle value (a nonzero multiple of 4, once per process)
// naming a kernel object of a real type (index 2 or more: 0 is never
// used and 1 is Windows' marker).
func (r Report) SystemHandles() ([]SystemHandle, error) {
	head, err := r.only("system-handles")
	if err != nil {
		return nil, err
	}
	count, err := head.Uint("count")
	if err != nil {
		return nil, err
	}
	all := r.All("system-handle")
	if uint64(len(all)) != count {
		return nil, fmt.Errorf("minint: system-handles count=%d, but the report lists %d system-handle events", count, len(all))
	}
	type key struct{ pid, handle uint64 }
	seen := map[key]bool{}
	out := make([]SystemHandle, 0, len(all))
	for _, e := range all {
		var h SystemHandle
		if err := uints(e, map[string]*uint64{"pid": &h.PID, "handle": &h.Handle, "object": &h.Object,
			"type-index": &h.TypeIndex, "access": &h.Access, "attributes": &h.Attributes}); err != nil {
			return nil, err
		}
		k := key{h.PID, h.Handle}
		if h.Handle == 0 || h.Handle%4 != 0 || seen[k] || h.Object < kernelHalf || h.TypeIndex < 2 {
			return nil, fmt.Errorf("minint: system-handle is not a handle of a kernel object, or is listed twice: %q", e.Line)
		}
		seen[k] = true
		out = append(out, h)
	}
	return out, nil
}
