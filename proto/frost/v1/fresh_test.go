package frostv1_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the Go code into a temporary
// directory with the same script `make proto` runs and compares it with the
// committed files, so a .proto edit without `make proto` fails here.
func TestGeneratedCodeIsFresh(t *testing.T) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatal("protoc is missing and FROST_REQUIRE_INTEGRATION is set: run `make deps` (Debian's protobuf-compiler)")
		}
		t.Skip("protoc is missing (Debian's protobuf-compiler; `make deps` installs it): cannot check the generated code")
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "proto", "generate.sh"), out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("proto/generate.sh: %v\n%s", err, b)
	}
	gen, err := filepath.Glob(filepath.Join(out, "frost", "v1", "*.go"))
	if err != nil || len(gen) == 0 {
		t.Fatalf("generate.sh generated nothing into %s (%v)", out, err)
	}
	committed, _ := filepath.Glob("*.pb.go")
	if len(committed) != len(gen) {
		t.Errorf("%d generated files committed, %d generated now: run `make proto`", len(committed), len(gen))
	}
	for _, g := range gen {
		name := filepath.Base(g)
		want, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is not committed: run `make proto`", name)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(stripProtocVersion(have), stripProtocVersion(want)) {
			t.Errorf("%s is out of date with its .proto: run `make proto` and commit the result", name)
		}
	}
}

// protocVersion is the header line naming protoc's version. Another patch
// release of protoc generates the same code, so that line alone must not
// fail the check.
var protocVersion = regexp.MustCompile(`(?m)^//\s+protoc\s+v.*$`)

func stripProtocVersion(b []byte) []byte {
	return protocVersion.ReplaceAll(b, nil)
}
