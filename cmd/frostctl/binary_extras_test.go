package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The commands and flags that are not rows of frostctl's command table
// (cobra's own version, completion and man, and flags added since the
// table test was written) run here through the built binary against the
// real API server, as a user runs them.
func TestBuiltBinaryExtras(t *testing.T) {
	bin := buildFrostctl(t)
	d := startFrostd(t)
	run := func(t *testing.T, want []string, args ...string) string {
		t.Helper()
		d.calls.reset()
		stdout, stderr, code := runBinary(t, bin, nil, append([]string{"--addr", d.sock}, args...)...)
		if code != 0 {
			t.Fatalf("frostctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
		if !hasAll(stdout, want...) {
			t.Fatalf("frostctl %s: output lacks %q:\n%s", strings.Join(args, " "), want, stdout)
		}
		return stdout
	}
	served := func(t *testing.T, rpc string) {
		t.Helper()
		if ok, st := d.calls.get(method(rpc)); !ok || st.Code() != 0 {
			t.Fatalf("%s: served %v, %v (the server saw %v)", rpc, ok, st, d.calls.names())
		}
	}

	t.Run("--version asks frostd", func(t *testing.T) {
		run(t, []string{"frostctl ", "frostd ", "API frost.v1"}, "--version")
		served(t, "VersionService/GetVersion")
	})
	t.Run("completion of VM names asks frostd", func(t *testing.T) {
		// cobra's hidden __complete is what the shell scripts call.
		run(t, []string{"win10", "mini-nt", "scratch"}, "__complete", "attach", "")
		served(t, "VMService/ListDomains")
	})
	t.Run("completion scripts", func(t *testing.T) {
		for _, sh := range []string{"bash", "zsh", "fish"} {
			run(t, []string{"frostctl"}, "completion", sh)
		}
	})
	t.Run("man pages", func(t *testing.T) {
		dir := t.TempDir()
		run(t, nil, "man", dir)
		for _, page := range []string{"frostctl.1", "frostctl-read.1", "frostctl-break.1", "frostctl-pause.1"} {
			b, err := os.ReadFile(filepath.Join(dir, page))
			if err != nil || !strings.Contains(string(b), ".TH ") {
				t.Errorf("%s: %v, %.60q", page, err, b)
			}
		}
	})
	t.Run("pause --lease", func(t *testing.T) {
		run(t, []string{"lease"}, "pause", "--vm", "win10", "--lease", "5s")
		served(t, "CPUService/Pause")
	})
	t.Run("break --kind hardware", func(t *testing.T) {
		run(t, []string{"hardware"}, "break", "--vm", "win10", "--persist", "--kind", "hardware", "--dtb", "1aa000", "0x401000")
		served(t, "BreakpointService/SetBreakpoint")
	})
	t.Run("read --post-mortem of a live guest", func(t *testing.T) {
		out := run(t, []string{"00001000  4d 5a 90 00"}, "read", "--vm", "win10", "--physical", "--post-mortem", "0x1000", "0x20")
		served(t, "MemoryService/ReadPhysical")
		if strings.Contains(out, "post-mortem") {
			t.Errorf("a live guest's read is marked post-mortem:\n%s", out)
		}
	})
	t.Run("--json is the script form", func(t *testing.T) {
		// Every field present even when zero, enums by name, and
		// addresses as hex strings where protojson's form (--json=proto)
		// has decimal ones: the breakpoint armed above, at 0x401000.
		run(t, []string{`"attached": false`, `"state": "DOMAIN_STATE_SHUTOFF"`}, "vms", "--json")
		run(t, []string{`"0x401000"`}, "breakpoints", "--vm", "win10", "--json")
		run(t, []string{`"4198400"`}, "breakpoints", "--vm", "win10", "--json=proto")
	})
}
