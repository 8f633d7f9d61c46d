package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitDir holds the systemd units Frost ships.
const unitDir = "../../dist/systemd"

// unit is a systemd unit file: its sections' keys (a key may repeat).
type unit map[string]map[string][]string

func readUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(filepath.Join(unitDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, "\\") {
				t.Fatalf("%s:%d: not key=value in a section: %q", name, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %v, want one value", section, key, v)
	}
	return v[0]
}

// execArgs is ExecStart's arguments after the binary, with the
// environment's $FROSTD_ARGS left out.
func execArgs(t *testing.T, u unit) []string {
	t.Helper()
	f := strings.Fields(u.one(t, "Service", "ExecStart"))
	if filepath.Base(f[0]) != "frostd" {
		t.Fatalf("ExecStart runs %s, want frostd", f[0])
	}
	var out []string
	for _, a := range f[1:] {
		if !strings.HasPrefix(a, "$") {
			out = append(out, a)
		}
	}
	return out
}

// flagValue is the value of --name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// The shipped units parse, their flags are frostd's own, the guard is its
// own unit that frostd's stop does not kill (KillMode=process covers a
// guard frostd had to start itself), frostd restarts on failure, and both
// agree on the socket and state file, in a runtime directory kept across
// restarts. systemd-analyze verify checks them too where it is installed.
func TestSystemdUnits(t *testing.T) {
	d := readUnit(t, "frostd.service")
	g := readUnit(t, "frost-guard.service")
	for name, u := range map[string]unit{"frostd.service": d, "frost-guard.service": g} {
		for _, s := range []string{"Unit", "Service", "Install"} {
			if u[s] == nil {
				t.Errorf("%s has no [%s]", name, s)
			}
		}
		if u.one(t, "Service", "RuntimeDirectory") != "frost" || u.one(t, "Service", "RuntimeDirectoryPreserve") != "yes" ||
			u.one(t, "Service", "RuntimeDirectoryMode") != "0700" {
			t.Errorf("%s: the runtime directory must be frost, 0700, kept across restarts", name)
		}
	}
	if v := d.one(t, "Service", "Restart"); v != "on-failure" {
		t.Errorf("frostd Restart=%s", v)
	}
	if v := d.one(t, "Service", "KillMode"); v != "process" {
		t.Errorf("frostd KillMode=%s: a guard frostd started would be killed with it", v)
	}
	if v := g.one(t, "Service", "Restart"); v != "always" {
		t.Errorf("guard Restart=%s", v)
	}
	if !strings.Contains(d.one(t, "Unit", "Wants"), "frost-guard.service") {
		t.Error("frostd.service does not pull in the guard")
	}

	dargs := execArgs(t, d)
	c, err := parseFlags(dargs, io.Discard)
	if err != nil {
		t.Fatalf("frostd.service's flags: %v", err)
	}
	gargs := execArgs(t, g)
	if len(gargs) == 0 || gargs[0] != "guard" {
		t.Fatalf("frost-guard.service runs frostd %v, want the guard subcommand", gargs)
	}
	gc, err := parseGuardFlags(gargs[1:], io.Discard)
	if err != nil {
		t.Fatalf("frost-guard.service's flags: %v", err)
	}
	if gc.exitIdle {
		t.Error("the guard's own service must not exit when idle")
	}
	if c.guardSocket != gc.socket || c.stateFile != gc.stateFile || !strings.HasPrefix(c.stateFile, "/run/frost/") {
		t.Errorf("frostd (%s, %s) and the guard (%s, %s) disagree on the socket or state file", c.guardSocket, c.stateFile, gc.socket, gc.stateFile)
	}
	if flagValue(dargs, "listen") != "/run/frost/frostd.sock" {
		t.Errorf("frostd listens on %s", flagValue(dargs, "listen"))
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: structural checks only")
		return
	}
	// verify wants ExecStart's binary to exist: this test's own.
	tmp := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"frost-guard.service", "frostd.service"} {
		b, err := os.ReadFile(filepath.Join(unitDir, name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/frostd", self)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	// verify exits 0 on a key it ignores, but says so.
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
