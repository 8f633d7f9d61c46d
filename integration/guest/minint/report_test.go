package minint

import (
	"errors"
	"strings"
	"testing"
)

func TestParseReport(t *testing.T) {
	log := "SeaBIOS noise\r\n" +
		"frost-guest: loader seed=7 kernel-base=0xfffff8017c200000 hal-base=0xfffff80187800000 ram-mb=127\r\n" +
		"frost-guest: NtCreatePagingFile name=\\??\\C:\\pagefile.sys min=0x200000 max=0x800000 status=0x00000000\n" +
		"frost-guest: ejectable volume=\\Device\\HarddiskVolume1 drive=C: value=1\n" +
		"frost-guest: process pid=68 name=\"smss.exe\" dtb=0x120000 parent=4\n" +
		"frost-guest: ready\n" +
		"frost-writer: message 1 from writer.exe\n"
	rep, err := ParseReport(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 5 {
		t.Fatalf("%d events, want 5: %+v", len(rep), rep)
	}
	pf, ok := rep.First("NtCreatePagingFile")
	if !ok || pf.Get("name") != `\??\C:\pagefile.sys` || pf.Get("status") != "0x00000000" {
		t.Errorf("NtCreatePagingFile = %+v", pf)
	}
	if n, err := pf.Uint("min"); err != nil || n != 0x200000 {
		t.Errorf("Uint(min) = %#x, %v", n, err)
	}
	loader, _ := rep.First("loader")
	if n, err := loader.Uint("ram-mb"); err != nil || n != 127 {
		t.Errorf("Uint(ram-mb) = %d, %v (decimal)", n, err)
	}
	if n, err := loader.Uint("kernel-base"); err != nil || n != 0xfffff8017c200000 {
		t.Errorf("Uint(kernel-base) = %#x, %v", n, err)
	}
	if _, err := loader.Uint("nope"); err == nil {
		t.Error("Uint of a missing key succeeded")
	}
	if p, _ := rep.First("process"); p.Get("name") != "smss.exe" {
		t.Errorf("quoted value = %q", p.Get("name"))
	}
	if ej, _ := rep.First("ejectable"); ej.Get("volume") != `\Device\HarddiskVolume1` {
		t.Errorf("volume = %q", ej.Get("volume"))
	}
	if r, ok := rep.First("ready"); !ok || len(r.Fields) != 0 {
		t.Errorf("ready = %+v, %v", r, ok)
	}
	if len(rep.All("process")) != 1 || len(rep.All("write")) != 0 {
		t.Error("All miscounts")
	}
}

func TestParseLineRejects(t *testing.T) {
	for _, line := range []string{
		"frost-guest: ",
		"frost-guest: =x",
		"frost-guest: write count",
		"frost-guest: write =5",
		"frost-guest: write count=1 count=2",
		`frost-guest: process name="smss.exe`,
		`frost-guest: process name="smss"x`,
	} {
		_, _, err := ParseLine(line)
		var re *ReportError
		if !errors.As(err, &re) {
			t.Errorf("ParseLine(%q) error = %v, want a *ReportError", line, err)
		}
	}
}

func TestParseReportNamesTheLine(t *testing.T) {
	_, err := ParseReport(strings.NewReader("frost-guest: ready\nfrost-guest: write count\n"))
	var re *ReportError
	if !errors.As(err, &re) || re.LineNo != 2 {
		t.Errorf("error = %v, want a *ReportError on line 2", err)
	}
}

func TestEmptyValue(t *testing.T) {
	e, ok, err := ParseLine(`frost-guest: boot loadoptions="" x=`)
	if !ok || err != nil || e.Get("loadoptions") != "" || e.Get("x") != "" || len(e.Fields) != 2 {
		t.Errorf("ParseLine = %+v, %v, %v", e, ok, err)
	}
}

// TestParseLineTornByReset: an event a reset cut off is followed on the
// same line by the next boot's first event; that one is the line's.
func TestParseLineTornByReset(t *testing.T) {
	e, ok, err := ParseLine("frost-guest: csrss-write count=frost-guest: loader seed=5219517513 kernel-base=0xfffff8018be00000 boot=1")
	if err != nil || !ok || e.Name != "loader" || e.Get("seed") != "5219517513" || e.Get("boot") != "1" {
		t.Errorf("ParseLine of a torn line = %+v, %v, %v; want the loader event", e, ok, err)
	}
}
