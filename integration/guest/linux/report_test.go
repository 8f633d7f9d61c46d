package linuxguest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serialSample is a serial log as the guest prints it: CRLF line ends,
// a kernel warning, report lines, and the writer's lines.
const serialSample = "[    0.412] random: crng init done\r\n" +
	"frost-linux: boot uptime=1.81\r\n" +
	"frost-linux: sym name=_stext type=T addr=0xffffffff81000000\r\n" +
	"frost-linux: sym name=_text type=T addr=0xffffffff81000000\r\n" +
	"frost-linux: sym name=ksys_write type=T addr=0xffffffff81367680\r\n" +
	"frost-linux: cpu pcid=no pti=yes meltdown=\"Mitigation: PTI\"\r\n" +
	"frost-linux: ready\r\n" +
	"frost-linux: writer pid=88\r\n" +
	"frost-linux: noise pid=87\r\n" +
	"frost-write 000001 " + WritePayload + "\r\n" +
	"frost-write 000002 " + WritePayload + "\r\n" +
	"frost-write 00[    3.1] some kernel warning\r\n" +
	"0003 " + WritePayload + "\r\n" +
	"frost-write 000004 " + WritePayload + "\r\n"

func TestParseReport(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(serialSample))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := rep.Symbol("ksys_write"); err != nil || a != 0xffffffff81367680 {
		t.Errorf("ksys_write = %#x, %v", a, err)
	}
	if _, err := rep.Symbol("_raw_spin_lock"); err == nil || !strings.Contains(err.Error(), "did not report") {
		t.Errorf("an unreported symbol: %v", err)
	}
	if rep.BootUptime != "1.81" {
		t.Errorf("boot uptime %q", rep.BootUptime)
	}
	if rep.WriterPID != 88 || rep.NoisePID != 87 || !rep.Ready || rep.PCID || !rep.PTI || rep.Meltdown != "Mitigation: PTI" {
		t.Errorf("report: %+v", rep)
	}
	// Line 3 was broken by a kernel message: garbled, and not written
	// as far as the report can tell.
	if len(rep.Writes) != 3 || rep.LastWrite() != 4 {
		t.Errorf("writes %v", rep.Writes)
	}
	if len(rep.Garbled) != 1 || !strings.Contains(rep.Garbled[0], "kernel warning") {
		t.Errorf("garbled %q", rep.Garbled)
	}
	if !rep.Wrote(WriteLine(4)) || rep.Wrote(WriteLine(3)) || rep.Wrote(WriteLine(5)) || rep.Wrote("frost-write 000001 other\n") {
		t.Error("Wrote: wrong answer")
	}
	// The buffer's bytes: the line without its newline is not the line.
	if rep.Wrote(strings.TrimSuffix(WriteLine(1), "\n")) {
		t.Error("Wrote accepts a line without its newline")
	}
}

func TestParseReportRefuses(t *testing.T) {
	for _, tc := range []struct{ what, log, want string }{
		{"skipped write", "frost-write 000001 " + WritePayload + "\nfrost-write 000003 " + WritePayload + "\n", "3 where 2 was due"},
		{"not from one", "frost-write 000002 " + WritePayload + "\n", "2 where 1 was due"},
		{"repeated", "frost-write 000001 " + WritePayload + "\nfrost-write 000001 " + WritePayload + "\n", "1 where 2 was due"},
		{"two lost for one garbled", "frost-write 000001 " + WritePayload + "\nfrost-write 0[ 1.0] x\nfrost-write 000004 " + WritePayload + "\n", "4 where 2 was due"},
		{"symbol twice", "frost-linux: sym name=x addr=0x1\nfrost-linux: sym name=x addr=0x2\n", "at both"},
		{"bad address", "frost-linux: sym name=x addr=12\n", "addr=0xHEX"},
		{"bad pid", "frost-linux: writer pid=abc\n", "pid=N"},
		{"unknown event", "frost-linux: surprise\n", "unknown event"},
		{"not key=value", "frost-linux: cpu pcid\n", "not key=value"},
		{"open quote", "frost-linux: cpu meltdown=\"Not\n", "unterminated"},
		{"duplicate key", "frost-linux: writer pid=1 pid=2\n", "duplicate"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			_, err := ParseReport(strings.NewReader(tc.log))
			var re *ReportError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a ReportError containing %q", err, tc.want)
			}
		})
	}
}

// ReadReport stops at the last complete line: a running guest may be
// halfway through printing the next.
func TestReadReportSkipsPartialLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "serial.log")
	log := "frost-write 000001 " + WritePayload + "\r\nfrost-write 000002 frost-li"
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReport(p)
	if err != nil || len(rep.Writes) != 1 || len(rep.Garbled) != 0 {
		t.Errorf("ReadReport: %+v, %v", rep, err)
	}
	if _, err := ReadReport(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing log read without error")
	}
}
