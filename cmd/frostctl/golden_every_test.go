package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// goldenCase is one command line whose output, human and --json, is kept
// in testdata/every/NAME.golden and NAME.json.golden. $DIR in args stands
// for a temporary directory, and is written back as $DIR in the output.
type goldenCase struct {
	name string // "command" or "command subcommand" it covers, then a variant
	args []string
}

// TestGoldenEveryCommand runs every command and subcommand against the
// golden server (the API over a fake guest, with fakes for what needs
// Windows) and compares what it prints, as a table and as --json, with
// the files under testdata/every (go test -update rewrites them). A
// command without a case fails the test.
func TestGoldenEveryCommand(t *testing.T) {
	cases := []goldenCase{
		{"vms", []string{"vms"}},
		{"attach", []string{"attach", "mini-nt"}},
		{"detach", []string{"detach", "win10"}},
		{"state", []string{"state", "--vm", "win10"}},
		{"boot", []string{"boot", "--status", "mini-nt"}},
		{"launch", []string{"launch", "demo", "--paused"}},
		{"pause", []string{"pause", "--vm", "win10"}},
		{"pause lease", []string{"pause", "--vm", "win10", "--lease", "5m"}},
		{"pause renew", []string{"pause", "--vm", "win10", "--renew", "l-7"}},
		{"resume", []string{"resume", "--vm", "win10"}},
		{"step", []string{"step", "--vm", "win10"}},
		{"regs", []string{"regs", "--vm", "win10", "--cpu", "0"}},
		{"stack", []string{"stack", "--vm", "win10"}},
		{"ps", []string{"ps", "--vm", "win10"}},
		{"threads", []string{"threads", "--vm", "win10"}},
		{"modules", []string{"modules", "--vm", "win10", "--pid", "420"}},
		{"handles", []string{"handles", "--vm", "win10", "--pid", "420"}},
		{"vads", []string{"vads", "--vm", "win10", "--pid", "420"}},
		{"read", []string{"read", "--vm", "win10", "--physical", "0x1ff8", "0x20"}},
		{"vtop", []string{"vtop", "--vm", "win10", "--dtb", "1000", "0x1000"}},
		{"vadmap", []string{"vadmap", "--vm", "win10", "--dtb", "1000", "0", "0x4000"}},
		{"dump", []string{"dump", "--vm", "win10", "--live", "--via", "stream", "-q", "-o", "$DIR/guest.elf"}},
		{"procdump", []string{"procdump", "--vm", "win10", "--pid", "420", "-q", "-o", "$DIR/writer.dmp"}},
		{"moddump", []string{"moddump", "--vm", "win10", "--pid", "420", "--module", "frostrt.dll", "-o", "$DIR/frostrt.dll"}},
		{"break", []string{"break", "--vm", "win10", "nt!NtWriteFile", "--process", "writer.exe"}},
		{"break persist", []string{"break", "--vm", "win10", "nt!NtWriteFile", "--persist"}},
		{"break software", []string{"break", "--vm", "win10", "nt!NtWriteFile", "--persist", "--kind", "software"}},
		{"break hw", []string{"break", "--vm", "win10", "nt!NtWriteFile", "--persist", "--hw"}},
		{"events", []string{"events", "--vm", "win10"}},
		{"breakpoints", []string{"breakpoints", "--vm", "win10"}},
		{"clear", []string{"clear", "--vm", "win10", "1"}},
		{"monitor ntwritefile", []string{"monitor", "ntwritefile", "--vm", "win10", "--process", "writer.exe"}},
		{"monitor network", []string{"monitor", "network", "--vm", "win10"}},
		{"symbols resolve", []string{"symbols", "resolve", "nt!NtWriteFile", "--vm", "win10"}},
		{"symbols lookup", []string{"symbols", "--vm", "win10", "lookup", "fffff800`12345694"}},
		{"symbols field", []string{"symbols", "field", "_EPROCESS.UniqueProcessId", "--vm", "win10"}},
		{"symbols type", []string{"symbols", "type", "_LIST_ENTRY", "--vm", "win10"}},
		{"symbols convert", []string{"symbols", "convert", "$DIR/missing.pdb", "-o", "$DIR/out.json.xz"}},
		{"version", []string{"version"}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.name] = true
	}
	for _, c := range commands {
		names := []string{c.name}
		if len(c.subs) > 0 {
			names = nil
			for _, s := range c.subs {
				names = append(names, c.name+" "+s.name)
			}
		}
		for _, n := range names {
			if !covered[n] {
				t.Errorf("frostctl %s has no case in TestGoldenEveryCommand", n)
			}
		}
	}
	// A lease's end, printed as a time of day, counted from a fixed now.
	defer func(c func() time.Time) { leaseClock = c }(leaseClock)
	leaseClock = goldenTime.AsTime
	for _, tc := range cases {
		for _, json := range []bool{false, true} {
			file := strings.ReplaceAll(tc.name, " ", "-")
			args := tc.args
			if json {
				file += ".json"
				args = append(append([]string{}, args...), "--json")
			}
			t.Run(file, func(t *testing.T) {
				sock := startGoldenServer(t)
				dir := t.TempDir()
				full := make([]string, len(args))
				for i, a := range args {
					full[i] = strings.ReplaceAll(a, "$DIR", dir)
				}
				stdout, stderr, code := frostctl(t, sock, full...)
				got := "$ frostctl " + strings.Join(args, " ") + "\n" + stdout + stderr + "exit " + itoa(code) + "\n"
				got = strings.ReplaceAll(got, dir, "$DIR")
				// frostctl's own version is the toolchain's and the tree's.
				got = strings.ReplaceAll(got, clientVersion(), "CLIENT-VERSION")
				checkGolden(t, filepath.Join("testdata", "every", file+".golden"), got)
			})
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
