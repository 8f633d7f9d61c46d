package main

import (
	"strings"
	"testing"
)

// A pid, tid or vCPU index past 32 bits is refused by name, on every
// command that takes one: frostctl once read --pid 4294967384 as pid 88
// (issue 19), a different process.
func TestIDsPast32BitsRefused(t *testing.T) {
	sock := startServer(t)
	for _, args := range [][]string{
		{"threads", "--vm", "win10", "--pid", "4294967384"},
		{"modules", "--vm", "win10", "--pid", "4294967384"},
		{"handles", "--vm", "win10", "--pid", "4294967384"},
		{"vads", "--vm", "win10", "--pid", "4294967384"},
		{"read", "--vm", "win10", "--pid", "4294967384", "0x1000", "16"},
		{"vtop", "--vm", "win10", "--pid", "4294967384", "0x1000"},
		{"procdump", "--vm", "win10", "--pid", "4294967384", "-o", t.TempDir() + "/p.dmp"},
		{"moddump", "--vm", "win10", "--pid", "4294967384", "--module", "a.dll", "-o", t.TempDir() + "/m.dll"},
		{"break", "--vm", "win10", "nt!NtWriteFile", "--pid", "4294967384"},
		{"break", "--vm", "win10", "nt!NtWriteFile", "--tid", "0x100000058"},
		{"monitor", "ntwritefile", "--vm", "win10", "--pid", "4294967384"},
		{"monitor", "network", "--vm", "win10", "--pid", "4294967384"},
		{"symbols", "resolve", "nt!NtWriteFile", "--vm", "win10", "--pid", "4294967384"},
		{"regs", "--vm", "win10", "--cpu", "4294967296"},
		{"stack", "--vm", "win10", "--cpu", "4294967296"},
		{"step", "--vm", "win10", "--cpu", "4294967296"},
	} {
		_, stderr, code := frostctl(t, sock, args...)
		if code != 1 || !strings.Contains(stderr, "too large") || !(strings.Contains(stderr, "4294967384") || strings.Contains(stderr, "4294967296")) {
			t.Errorf("frostctl %s: exit %d, %q; want the id refused", strings.Join(args, " "), code, stderr)
		}
	}
}
