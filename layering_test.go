package frost_test

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// The layering of DESIGN.md ("The house"), as data, checked against what
// the packages import (Go's go/build/deps_test.go is the model). Imports
// flow one way; nothing above vmi imports a vmi backend except the wiring
// in cmd/; nothing in the product imports integration/. A package with no
// rule fails the test: a new package is placed deliberately.
//
// A pattern "x/..." matches x and everything below it. Only the module's
// own packages are checked (the standard library and third parties are
// free); test files are not (they may reach further, like a fake).
var layers = map[string][]string{
	// The daemon wires everything: the API, the sessions, the symbol
	// store, the vmi backends it dials, the guard it runs as `frostd
	// guard`, and the metrics and audit sinks.
	"cmd/frostd": {"api", "session", "symbols/...", "vmi/...", "guard", "metrics", "audit"},
	// The CLI speaks the API's contract, through the Go client package.
	"cmd/frostctl":  {"proto/...", "client"},
	"cmd/frost-isf": {"symbols/..."},
	// minint is the test guest's own tool (boot it alone, define it under
	// libvirt): it may use the guest's harness.
	"cmd/minint": {"integration/guest/...", "vmi/..."},

	"proto/frost/v1": {},
	// api: validation and mapping, over the session layer and the value
	// types of the packages below.
	"api":     {"proto/...", "session", "breakpoints", "monitor", "nt", "translate", "symbols/...", "vmi", "winboot", "unwind", "minidump", "audit"},
	"session": {"winboot", "monitor", "breakpoints", "nt", "translate", "symbols/...", "vmi", "minidump", "unwind", "audit"},
	// guard outlives frostd and lets its guests go; it attaches through
	// an AttachFunc the wiring gives it, never a vmi backend of its own.
	"guard": {"session", "vmi"},
	// metrics pulls counters from the layers below; none of them import it.
	"metrics": {"session", "breakpoints", "translate", "vmi"},
	// audit is a structured log sink: it imports nothing of the project.
	"audit": {},
	// client is the Go client package for programs: gRPC, plus guest RAM
	// mapped locally with the hardware walk of translate.
	"client":      {"proto/...", "translate"},
	"winboot":     {"breakpoints", "nt", "translate", "symbols/...", "vmi"},
	"monitor":     {"breakpoints", "nt", "translate"},
	"breakpoints": {"vmi"},
	"nt":          {"translate", "symbols/...", "unwind"},
	"nt/nttest":   {"nt", "translate", "symbols/..."},
	"translate":   {},
	// unwind: x64 stack unwinding from .pdata/.xdata over memory it is
	// given; minidump: the MDMP file format. Both pure: no I/O of their
	// own, nothing of the project.
	"unwind":      {},
	"minidump":    {},
	"symbols/...": {"symbols/..."},
	// vmi is the only way to the hypervisor; its backends are its own.
	"vmi":     {"vmi/..."},
	"vmi/...": {"vmi/..."},

	// Tests and examples: anything.
	"integration/...": {"..."},
	"examples/...":    {"..."},
}

// product lists the programs that must not link the test guest.
var product = []string{"cmd/frostd", "cmd/frostctl", "cmd/frost-isf"}

const module = "github.com/frostvmi/frost"

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, ok := local(f[0])
		if !ok || pkg == "." {
			continue // the module root holds only this test
		}
		rule, ok := ruleFor(pkg)
		if !ok {
			t.Errorf("%s has no rule in layering_test.go: place it in DESIGN.md's layering and here", pkg)
			continue
		}
		var bad []string
		for _, imp := range f[1:] {
			dep, ok := local(imp)
			if !ok || dep == pkg {
				continue
			}
			if !allowed(rule, dep) {
				bad = append(bad, dep)
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Errorf("%s imports %s, which its layer may not (allowed: %s)", pkg, strings.Join(bad, ", "), strings.Join(rule, ", "))
		}
	}
}

// TestProductLinksNoTestGuest: frostd, frostctl and frost-isf depend on
// nothing under integration/, however indirectly.
func TestProductLinksNoTestGuest(t *testing.T) {
	for _, p := range product {
		out, err := exec.Command("go", "list", "-deps", "./"+p).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if d, ok := local(dep); ok && matches("integration/...", d) {
				t.Errorf("%s links %s", p, d)
			}
		}
	}
}

// TestLayeringRules: the matcher itself, so a loose pattern cannot make
// the layering test pass vacuously.
func TestLayeringRules(t *testing.T) {
	for _, c := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"vmi", "vmi", true}, {"vmi", "vmi/gdbstub", false}, {"vmi/...", "vmi", true},
		{"vmi/...", "vmi/gdbstub", true}, {"vmi/...", "vmitest", false}, {"...", "api", true},
		{"symbols/...", "symbols/store", true}, {"api", "apix", false},
	} {
		if got := matches(c.pattern, c.pkg); got != c.want {
			t.Errorf("matches(%q, %q) = %v", c.pattern, c.pkg, got)
		}
	}
	if _, ok := ruleFor("newpkg"); ok {
		t.Error("a package nobody placed has a rule")
	}
	if r, _ := ruleFor("vmi/gdbstub"); allowed(r, "api") {
		t.Error("a vmi backend may import api")
	}
	if r, _ := ruleFor("breakpoints"); allowed(r, "vmi/gdbstub") {
		t.Error("breakpoints may import a vmi backend")
	}
}

// local strips the module path; false for a package outside the module.
func local(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	return rest, ok
}

// ruleFor picks the most specific rule for pkg: an exact entry, else the
// longest "x/..." that covers it.
func ruleFor(pkg string) ([]string, bool) {
	if r, ok := layers[pkg]; ok {
		return r, true
	}
	best, found := "", false
	for p := range layers {
		if strings.HasSuffix(p, "/...") && matches(p, pkg) && len(p) > len(best) {
			best, found = p, true
		}
	}
	return layers[best], found
}

func allowed(rule []string, dep string) bool {
	for _, p := range rule {
		if matches(p, dep) {
			return true
		}
	}
	return false
}

func matches(pattern, pkg string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}
