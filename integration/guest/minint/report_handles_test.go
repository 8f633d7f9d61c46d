package minint

import (
	"strings"
	"testing"
)

// Lines as smss printed them on a seed=7 boot (writer.exe's events cut).
const handlesReport = `frost-guest: system-handles count=3 bytes=136
frost-guest: system-handle pid=4 handle=0x4 object=0xffffa00000031090 type-index=9 access=0x12019f attributes=0x0
frost-guest: system-handle pid=88 handle=0x4b8 object=0xffffa00000072100 type-index=9 access=0x100004 attributes=0x0
frost-guest: system-handle pid=88 handle=0x4bc object=0xffffa00000072270 type-index=10 access=0x1f0001 attributes=0x0
`

func TestReportSystemHandles(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(handlesReport))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := rep.SystemHandles()
	if err != nil {
		t.Fatal(err)
	}
	want := SystemHandle{PID: 88, Handle: 0x4bc, Object: 0xffffa00000072270, TypeIndex: 10, Access: 0x1f0001}
	if len(hs) != 3 || hs[2] != want {
		t.Errorf("SystemHandles = %+v, want 3 ending with %+v", hs, want)
	}
}

func TestReportSystemHandlesRejects(t *testing.T) {
	for name, text := range map[string]string{
		"no count":    strings.SplitN(handlesReport, "\n", 2)[1],
		"count short": strings.Replace(handlesReport, "count=3", "count=2", 1),
		"twice":       strings.Replace(handlesReport, "handle=0x4b8", "handle=0x4bc", 1),
		"odd handle":  strings.Replace(handlesReport, "handle=0x4b8", "handle=0x4b9", 1),
		"user object": strings.Replace(handlesReport, "object=0xffffa00000072100", "object=0x7ffe0000", 1),
		"marker type": strings.Replace(handlesReport, "type-index=10", "type-index=1", 1),
		"no access":   strings.Replace(handlesReport, " access=0x100004", "", 1),
	} {
		rep, err := ParseReport(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if hs, err := rep.SystemHandles(); err == nil {
			t.Errorf("%s: SystemHandles = %+v, want an error", name, hs)
		}
	}
}
