package minidump

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lldb is Debian's lldb, which opens Windows minidumps; tests that need it
// skip, saying so, where it is not installed (deps.sh installs it).
func lldb(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"lldb", "lldb-14", "lldb-15", "lldb-16"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("lldb is not installed (apt-get install lldb): the minidump cannot be checked with a real debugger")
	return ""
}

// LLDB runs lldb in batch mode on a core file with the given commands
// and returns its output.
func LLDB(t *testing.T, core string, cmds ...string) string {
	t.Helper()
	args := []string{"-b", "--no-lldbinit", "-c", core}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	cmd := exec.Command(lldb(t), args...)
	cmd.Env = append(os.Environ(), "LLDB_DISABLE_PYTHON=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("lldb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The written file opens in lldb as a Windows minidump with the modules
// (their RSDS identities as UUIDs), the thread and its registers, and the
// exact bytes of memory.
func TestLLDBOpensDump(t *testing.T) {
	lldb(t)
	d := sample()
	p, err := NewPlan(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := p.Write(&out, pattern); err != nil {
		t.Fatal(err)
	}
	core := filepath.Join(t.TempDir(), "t.dmp")
	if err := os.WriteFile(core, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got := LLDB(t, core, "image list", "thread list", "register read", "memory read -s1 -fx -c16 0x140001000")
	t.Logf("lldb:\n%s", got)

	// image list: both modules at their bases; writer.exe's UUID is its
	// RSDS GUID (Data1–3 as a GUID prints them) followed by the age.
	uuid := LLDBUUID(d.Modules[0].PDB)
	for _, want := range []string{"0x0000000140000000", "writer.exe", uuid, "0x000007ffe0000000", "ntdll.dll"} {
		if !strings.Contains(got, want) {
			t.Errorf("lldb output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`tid = 0x0*58`).MatchString(got) {
		t.Errorf("thread 88 (0x58) not listed")
	}
	for _, want := range []string{"rip = 0x0000000140001234", "rsp = 0x000000000020f800", "rax = 0x0000000000000007", "r15 = 0x000000000000000f"} {
		if !strings.Contains(got, want) {
			t.Errorf("register read lacks %q", want)
		}
	}
	b := make([]byte, 16)
	pattern(b, 0x140001000)
	if mem := LLDBMemory(got, 0x140001000, 16); !bytes.Equal(mem, b) {
		t.Errorf("memory read: got % x, want % x", mem, b)
	}
}

// LLDBMemory collects n bytes from lldb's "memory read -s1 -fx" lines
// ("0xADDR: 0x01 0x02 ...") starting at addr.
func LLDBMemory(out string, addr uint64, n int) []byte {
	var got []byte
	line := regexp.MustCompile(`(?m)^0x([0-9a-f]+): ((?:0x[0-9a-f]{2} ?)+)`)
	for _, m := range line.FindAllStringSubmatch(out, -1) {
		var a uint64
		fmt.Sscanf(m[1], "%x", &a)
		if a != addr+uint64(len(got)) {
			continue
		}
		for _, h := range strings.Fields(m[2]) {
			var c byte
			fmt.Sscanf(h, "0x%02x", &c)
			got = append(got, c)
		}
	}
	if len(got) > n {
		got = got[:n]
	}
	return got
}

// LLDBUUID is how lldb prints a module's RSDS identity: the GUID in its
// usual text form (Data1–3 big-endian) then the age as 8 hex digits.
func LLDBUUID(r RSDS) string {
	g := r.GUID
	return strings.ToUpper(fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x-%08x",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15], r.Age))
}
