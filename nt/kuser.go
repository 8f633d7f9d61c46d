package nt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// KUserSharedData is the VA where every x64 Windows maps
// _KUSER_SHARED_DATA in the kernel half (user mode sees it at 0x7FFE0000).
// The address is fixed by the ABI, not a layout: the fields come from the
// PDB.
const KUserSharedData = 0xFFFFF78000000000

// SharedUserData is what Frost reads of _KUSER_SHARED_DATA.
type SharedUserData struct {
	InterruptTime  uint64 // 100 ns units since boot
	SystemTime     uint64 // 100 ns units since 1601-01-01, UTC
	TickCount      uint64
	NtMajorVersion uint64
	NtMinorVersion uint64
	NtBuildNumber  uint64
	NtSystemRoot   string
	// ActiveProcessorCount is 0 on a build without the field.
	ActiveProcessorCount uint64
}

// maxTimeRetries bounds the KSYSTEM_TIME retry loop: the clock writes a
// time in three stores, and a reader that catches it in between sees
// High1Time != High2Time. A guest that never settles is not waited for.
const maxTimeRetries = 8

// SharedUserData reads _KUSER_SHARED_DATA at its fixed address, each time
// whole, through the PDB's layout.
func (k *Kernel) SharedUserData() (SharedUserData, error) {
	var s SharedUserData
	var o *object
	var err error
	for try := 0; ; try++ {
		if o, err = k.readObject("_KUSER_SHARED_DATA", k.dtb, KUserSharedData); err != nil {
			return s, err
		}
		torn := false
		for _, t := range []struct {
			path string
			dst  *uint64
		}{{"InterruptTime", &s.InterruptTime}, {"SystemTime", &s.SystemTime}, {"TickCount", &s.TickCount}} {
			v, ok, err := o.systemTime(t.path)
			if err != nil {
				return s, err
			}
			torn = torn || !ok
			*t.dst = v
		}
		if !torn {
			break
		}
		if try == maxTimeRetries {
			return s, fmt.Errorf("nt: _KUSER_SHARED_DATA at %#x: its times stayed torn over %d reads", uint64(KUserSharedData), try+1)
		}
	}
	for _, f := range []struct {
		path string
		dst  *uint64
	}{{"NtMajorVersion", &s.NtMajorVersion}, {"NtMinorVersion", &s.NtMinorVersion}, {"NtBuildNumber", &s.NtBuildNumber}} {
		if *f.dst, err = o.uint(f.path); err != nil {
			return s, err
		}
	}
	if s.ActiveProcessorCount, err = o.uintOr("ActiveProcessorCount"); err != nil {
		return s, err
	}
	root, err := o.bytes("NtSystemRoot")
	if err != nil {
		return s, err
	}
	s.NtSystemRoot = kuserUTF16(root)
	return s, nil
}

// systemTime reads the _KSYSTEM_TIME at path; ok is false when the reader
// caught a writer between its stores (High1Time != High2Time).
func (o *object) systemTime(path string) (v uint64, ok bool, err error) {
	low, err := o.uint(path + ".LowPart")
	if err != nil {
		return 0, false, err
	}
	h1, err := o.uint(path + ".High1Time")
	if err != nil {
		return 0, false, err
	}
	h2, err := o.uint(path + ".High2Time")
	if err != nil {
		return 0, false, err
	}
	return uint64(uint32(h1))<<32 | uint64(uint32(low)), uint32(h1) == uint32(h2), nil
}

// kuserUTF16 decodes a NUL-terminated UTF-16LE array.
func kuserUTF16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}
