package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// staticcheckVersion is the version go.mod pins; bumping it is a
// deliberate change, made here and by `go get -tool` together.
const staticcheckVersion = "v0.8.2"

// TestMakeTestRunsStaticChecks keeps `make test`'s static checks from being
// dropped or defanged in an edit: its recipe runs each one as a plain line,
// whose failure fails make, and staticcheck is the version go.mod pins.
func TestMakeTestRunsStaticChecks(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	recipe := makeRecipe(t, string(mk), "test")
	for _, want := range []string{
		"$(GO) mod tidy -diff",
		"$(GO) vet ./...",
		"$(GO) tool staticcheck ./...",
	} {
		found := false
		for _, line := range recipe {
			if line == want {
				found = true
			}
			// A leading "-" makes make ignore the exit status; "|| true"
			// or "; true" does the same in the shell.
			if strings.Contains(line, strings.TrimPrefix(want, "$(GO) ")) && line != want {
				t.Errorf("`make test` runs %q as %q: its failure must fail make", want, line)
			}
		}
		if !found {
			t.Errorf("`make test` does not run %q", want)
		}
	}

	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^tool honnef\.co/go/tools/cmd/staticcheck$|^tool \([^)]*\bhonnef\.co/go/tools/cmd/staticcheck\b`).Match(mod) {
		t.Error("go.mod has no `tool honnef.co/go/tools/cmd/staticcheck`: `go tool staticcheck` would fail")
	}
	if !regexp.MustCompile(`(?m)^\s*(require\s+)?honnef\.co/go/tools ` + regexp.QuoteMeta(staticcheckVersion) + `\b`).Match(mod) {
		t.Errorf("go.mod does not pin honnef.co/go/tools %s", staticcheckVersion)
	}
}

// makeRecipe returns the command lines of target's rule, trimmed; the
// recipe ends at the first line that does not start with a tab.
func makeRecipe(t *testing.T, mk, target string) []string {
	t.Helper()
	var out []string
	in := false
	for _, line := range strings.Split(mk, "\n") {
		if !in {
			in = strings.HasPrefix(line, target+":")
			continue
		}
		if !strings.HasPrefix(line, "\t") {
			break
		}
		out = append(out, strings.TrimSpace(line))
	}
	if !in {
		t.Fatalf("the Makefile has no %q target", target)
	}
	return out
}
