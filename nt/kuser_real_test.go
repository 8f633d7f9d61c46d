package nt

import (
	"errors"
	"testing"
	"unicode/utf16"
)

// TestRealISFSharedUserData: _KUSER_SHARED_DATA on Windows 10's layout at
// its fixed address, the times read through _KSYSTEM_TIME.
func TestRealISFSharedUserData(t *testing.T) {
	g := newRealGuest(t)
	n, err := g.tab.Size("_KUSER_SHARED_DATA")
	if err != nil {
		t.Fatal(err)
	}
	g.mem.write(KUserSharedData, make([]byte, n))
	setTime := func(path string, v uint64, torn bool) {
		g.set("_KUSER_SHARED_DATA", KUserSharedData, path+".LowPart", v&0xffffffff)
		g.set("_KUSER_SHARED_DATA", KUserSharedData, path+".High1Time", v>>32)
		h2 := v >> 32
		if torn {
			h2++
		}
		g.set("_KUSER_SHARED_DATA", KUserSharedData, path+".High2Time", h2)
	}
	setTime("SystemTime", 0x01dd8579e88bdc80, false)
	setTime("InterruptTime", 0x123456789, false)
	setTime("TickCount", 0x42, false)
	g.set("_KUSER_SHARED_DATA", KUserSharedData, "NtMajorVersion", 10)
	g.set("_KUSER_SHARED_DATA", KUserSharedData, "NtBuildNumber", 19041)
	root := utf16.Encode([]rune(`C:\Windows`))
	b := make([]byte, 2*len(root))
	for i, c := range root {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	g.mem.write(g.addr("_KUSER_SHARED_DATA", KUserSharedData, "NtSystemRoot"), b)
	k := g.kernel()
	s, err := k.SharedUserData()
	if err != nil {
		t.Fatal(err)
	}
	if s.SystemTime != 0x01dd8579e88bdc80 || s.InterruptTime != 0x123456789 || s.TickCount != 0x42 ||
		s.NtMajorVersion != 10 || s.NtBuildNumber != 19041 || s.NtSystemRoot != `C:\Windows` {
		t.Errorf("SharedUserData = %+v", s)
	}

	// A clock that never finishes its stores is not waited for.
	setTime("SystemTime", 0x01dd8579e88bdc80, true)
	if _, err := k.SharedUserData(); err == nil {
		t.Error("a torn SystemTime was accepted")
	}
}

// TestRealISFDebuggerDataNeedsItsType: Windows' PDBs name
// KdDebuggerDataBlock but carry no _KDDEBUGGER_DATA64; Frost says so
// instead of assuming the protocol's layout.
func TestRealISFDebuggerDataNeedsItsType(t *testing.T) {
	g := newRealGuest(t)
	if _, err := g.tab.Address("KdDebuggerDataBlock"); err != nil {
		t.Skip("this ISF has no KdDebuggerDataBlock symbol")
	}
	if _, err := g.tab.Size("_KDDEBUGGER_DATA64"); err == nil {
		t.Skip("this ISF has the type")
	}
	_, err := g.kernel().DebuggerData()
	if !errors.Is(err, ErrNoDebuggerDataType) {
		t.Errorf("DebuggerData on Windows' own ISF: %v, want ErrNoDebuggerDataType", err)
	}
}
