package gdbstub

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseStop(t *testing.T) {
	tests := []struct {
		in   string
		want Stop
	}{
		{"T05thread:p01.01;", Stop{Signal: 5, Thread: ThreadID{1, 1}}},
		{"T02thread:01;", Stop{Signal: 2, Thread: ThreadID{0, 1}}},
		{"T05thread:p01.02;watch:fffff8017c210000;", Stop{Signal: 5, Thread: ThreadID{1, 2}, Watch: &WatchHit{WriteWatch, 0xfffff8017c210000}}},
		{"T05rwatch:10;thread:p1.1;", Stop{Signal: 5, Thread: ThreadID{1, 1}, Watch: &WatchHit{ReadWatch, 0x10}}},
		{"T05awatch:10;", Stop{Signal: 5, Watch: &WatchHit{AccessWatch, 0x10}}},
		{"T05swbreak:;thread:p1.1;", Stop{Signal: 5, Thread: ThreadID{1, 1}, SWBreak: true}},
		{"T05hwbreak:;", Stop{Signal: 5, HWBreak: true}},
		{"T0510:0000000000000000;core:0;thread:p1.1;", Stop{Signal: 5, Thread: ThreadID{1, 1}}},
		{"S05", Stop{Signal: 5}},
		{"W00", Stop{Exited: true}},
		{"W01;process:1", Stop{Signal: 1, Exited: true}},
		{"X09", Stop{Signal: 9, Terminated: true}},
	}
	for _, tt := range tests {
		got, err := parseStop([]byte(tt.in))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		tt.want.Raw = tt.in
		gw, ww := got.Watch, tt.want.Watch
		g := *got
		g.Watch, tt.want.Watch = nil, nil
		if fmt.Sprint(g) != fmt.Sprint(tt.want) || (gw != nil) != (ww != nil) || (gw != nil && *gw != *ww) {
			t.Errorf("%q: %+v, want %+v", tt.in, *got, tt.want)
		}
	}
	for _, bad := range []string{"T5", "Tzz", "T05thread", "T05thread:pq.1;", "T05watch:xyz;", "S05x", "OK", "E22", ""} {
		if _, err := parseStop([]byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: %v, want ErrProtocol", bad, err)
		}
	}
}

// TestReplyShapes: no reply to a request this client sends may look like
// a stop reply or console output, or the owner would misroute it.
func TestReplyShapes(t *testing.T) {
	for _, r := range []string{"OK", "E22", "E14", "", "0123abcdef", "mp01.01", "l", "QCp01.01",
		"PacketSize=1000;qXfer:features:read+", "ENABLE=1,NOIRQ=2", "0x7", "0", "1", "vCont;c;C;s;S",
		"l<?xml", "m<?xml"} {
		if isStopReply([]byte(r)) || isConsoleOutput([]byte(r)) {
			t.Errorf("%q is taken for a stop or console output", r)
		}
	}
	if !isConsoleOutput([]byte("O48690a")) || isConsoleOutput([]byte("OK")) {
		t.Error("console output not recognized")
	}
}

func TestThreadIDs(t *testing.T) {
	for in, want := range map[string]ThreadID{
		"p01.02": {1, 2}, "p1.a": {1, 10}, "2": {0, 2}, "-1": {0, -1}, "p1.-1": {1, -1}, "p1": {1, -1}, "0": {0, 0},
	} {
		got, err := ParseThreadID(in)
		if err != nil || got != want {
			t.Errorf("ParseThreadID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "p", "p.1", "px.1", "zz", "p1.2.3", "0x10"} {
		if _, err := ParseThreadID(bad); err == nil {
			t.Errorf("ParseThreadID(%q) succeeded", bad)
		}
	}
	for id, want := range map[ThreadID]string{{1, 2}: "p1.2", {0, 3}: "3", {1, -1}: "p1.-1", {0, 0x1f}: "1f"} {
		if got := id.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", id, got, want)
		}
	}
	ids, last, err := parseThreadList([]byte("mp01.01,p01.02"))
	if err != nil || last || len(ids) != 2 {
		t.Errorf("thread list: %v %v %v", ids, last, err)
	}
	if _, _, err := parseThreadList([]byte("x")); err == nil {
		t.Error("bad thread list accepted")
	}
}

func TestFeatures(t *testing.T) {
	f := parseFeatures("PacketSize=1000;qXfer:features:read+;QStartNoAckMode-;multiprocess+;foo?")
	want := map[string]string{"PacketSize": "1000", "qXfer:features:read": "+", "QStartNoAckMode": "-", "multiprocess": "+", "foo": "?"}
	if fmt.Sprint(f) != fmt.Sprint(want) {
		t.Errorf("parseFeatures = %v", f)
	}
	if got := sstepFlags("ENABLE=1,NOIRQ=2,NOTIMER=4"); got != 7 {
		t.Errorf("TCG flags %#x", got)
	}
	if got := sstepFlags("ENABLE=1,NOIRQ=2"); got != 3 {
		t.Errorf("KVM flags %#x", got)
	}
	if got := sstepFlags("ENABLE=1,NOIRQ=2,NOTIMER=4,OTHER=8"); got != 7 {
		t.Errorf("unknown flag taken: %#x", got)
	}
}

// descFiles serves a target description from a map.
func descFiles(files map[string]string) fetchFunc {
	return func(annex string) ([]byte, error) {
		s, ok := files[annex]
		if !ok {
			return nil, &StubError{Request: "qXfer", Code: "00"}
		}
		return []byte(s), nil
	}
}

func TestTargetDescription(t *testing.T) {
	m, err := loadTargetDescription(descFiles(map[string]string{
		"target.xml": `<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>i386:x86-64</architecture>` +
			`<xi:include href="a.xml"/><feature name="extra"><reg name="late" bitsize="32" regnum="10"/><reg name="next" bitsize="16"/></feature></target>`,
		"a.xml": `<feature name="core"><reg name="r0" bitsize="64"/><reg name="r1" bitsize="80" type="i387_ext"/></feature>`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []RegisterInfo{
		{Name: "r0", Number: 0, BitSize: 64, Offset: 0, Feature: "core"},
		{Name: "r1", Number: 1, BitSize: 80, Offset: 8, Type: "i387_ext", Feature: "core"},
		{Name: "late", Number: 10, BitSize: 32, Offset: 18, Feature: "extra"},
		{Name: "next", Number: 11, BitSize: 16, Offset: 22, Feature: "extra"},
	}
	if got := m.Registers(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("registers %+v\nwant %+v", got, want)
	}
	if m.Size() != 24 || m.Architecture() != "i386:x86-64" {
		t.Errorf("size %d arch %q", m.Size(), m.Architecture())
	}
}

func TestTargetDescriptionErrors(t *testing.T) {
	loop := `<target><xi:include href="target.xml"/></target>`
	deep := map[string]string{}
	for i := range maxDescDepth + 2 {
		deep[fmt.Sprintf("f%d.xml", i)] = fmt.Sprintf(`<feature><xi:include href="f%d.xml"/></feature>`, i+1)
	}
	deep["target.xml"] = `<target><xi:include href="f0.xml"/></target>`
	for name, files := range map[string]map[string]string{
		"include loop":  {"target.xml": loop},
		"deep includes": deep,
		"missing file":  {"target.xml": `<target><xi:include href="gone.xml"/></target>`},
		"bad href":      {"target.xml": `<target><xi:include href="a:b"/></target>`},
		"no registers":  {"target.xml": `<target/>`},
		"bad bitsize":   {"target.xml": `<feature><reg name="a" bitsize="x"/></feature>`},
		"zero bitsize":  {"target.xml": `<feature><reg name="a" bitsize="0"/></feature>`},
		"no name":       {"target.xml": `<feature><reg bitsize="8"/></feature>`},
		"same number":   {"target.xml": `<feature><reg name="a" bitsize="8"/><reg name="b" bitsize="8" regnum="0"/></feature>`},
		"same name":     {"target.xml": `<feature><reg name="a" bitsize="8"/><reg name="a" bitsize="8"/></feature>`},
		"not xml":       {"target.xml": `<feature><reg`},
		"entity":        {"target.xml": `<!DOCTYPE x [<!ENTITY e "x">]><feature><reg name="&e;" bitsize="8"/></feature>`},
	} {
		if _, err := loadTargetDescription(descFiles(files)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	many := `<feature>` + strings.Repeat(`<reg name="r" bitsize="8"/>`, maxDescRegs+1) + `</feature>`
	if _, err := loadTargetDescription(descFiles(map[string]string{"target.xml": many})); err == nil {
		t.Error("accepted more than maxDescRegs registers")
	}
}

func TestRegistersDecode(t *testing.T) {
	m := fakeMap
	raw := make([]byte, m.Size())
	rip, _ := m.Lookup("rip")
	copy(raw[rip.Offset:], []byte{0x30, 0x10, 0x20, 0x7c, 0x01, 0xf8, 0xff, 0xff})
	r, err := parseRegisters(m, ThreadID{1, 1}, appendHex(nil, raw))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Uint("rip"); err != nil || v != 0xfffff8017c201030 {
		t.Errorf("rip %#x %v", v, err)
	}
	if _, err := r.Uint("xmm0"); err == nil {
		t.Error("Uint of a 128-bit register")
	}
	if b, err := r.Bytes("xmm0"); err != nil || len(b) != 16 {
		t.Errorf("xmm0: %x %v", b, err)
	}
	if _, err := r.Uint("nope"); !errors.Is(err, ErrUnknownRegister) {
		t.Errorf("unknown: %v", err)
	}
	if err := r.SetUint("eflags", 1<<32); err == nil {
		t.Error("SetUint overflowed a 32-bit register")
	}
	// "xx" marks bytes the stub cannot supply; a short reply leaves the
	// rest unavailable.
	hex := appendHex(nil, raw[:rip.Offset])
	hex = append(hex, []byte(strings.Repeat("xx", 8))...)
	r, err = parseRegisters(m, ThreadID{}, hex)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Uint("rip"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("rip sent as xx: %v", err)
	}
	if _, err := r.Uint("efer"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("efer past a short reply: %v", err)
	}
	if v, err := r.Uint("rax"); err != nil || v != 0 {
		t.Errorf("rax %v %v", v, err)
	}
	for _, bad := range []string{"abc", strings.Repeat("zz", 8), strings.Repeat("00", m.Size()+1)} {
		if _, err := parseRegisters(m, ThreadID{}, []byte(bad)); !errors.Is(err, ErrProtocol) {
			t.Errorf("g reply %.10q...: %v", bad, err)
		}
	}
}

func TestCapabilitiesTable(t *testing.T) {
	tests := []struct {
		accel     Accelerator
		visible   bool
		kind      BreakpointKind
		armedHW   int
		wantError error
	}{
		{AccelTCG, false, Software, 0, nil},
		{AccelTCG, false, Hardware, 100, nil}, // unlimited
		{AccelTCG, false, AccessWatch, 0, nil},
		{AccelKVM, false, Software, 0, ErrRefused},
		{AccelKVM, true, Software, 0, nil},
		{AccelKVM, false, Hardware, 3, nil},
		{AccelKVM, false, Hardware, 4, ErrSlotsExhausted},
		{AccelKVM, true, WriteWatch, 0, ErrRefused},
		{AccelKVMNoVirt, true, Software, 0, ErrRefused},
		{AccelKVMNoVirt, false, Hardware, 0, nil},
		{AccelKVMNoVirt, false, ReadWatch, 0, ErrRefused},
	}
	for _, tt := range tests {
		caps, err := CapabilitiesFor(tt.accel, tt.visible)
		if err != nil {
			t.Fatal(err)
		}
		err = caps.check(tt.kind, tt.armedHW)
		if (tt.wantError == nil) != (err == nil) || (tt.wantError != nil && !errors.Is(err, tt.wantError)) {
			t.Errorf("%v visible=%v %v with %d armed: %v, want %v", tt.accel, tt.visible, tt.kind, tt.armedHW, err, tt.wantError)
		}
	}
	if _, err := CapabilitiesFor(AccelUnknown, false); err == nil {
		t.Error("capabilities for an unknown accelerator")
	}
}

func TestKVMFlavor(t *testing.T) {
	for in, want := range map[string]Accelerator{
		"processor\t: 0\nflags\t\t: fpu vme vmx sse\n":        AccelKVM,
		"flags\t\t: fpu svm\nflags\t\t: fpu svm\n":            AccelKVM,
		"processor\t: 0\nflags\t\t: fpu vme sse hypervisor\n": AccelKVMNoVirt,
	} {
		got, err := KVMFlavor(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("KVMFlavor(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := KVMFlavor(strings.NewReader("processor: 0\n")); err == nil {
		t.Error("cpuinfo without flags accepted")
	}
}
