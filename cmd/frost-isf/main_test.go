package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/symbols/pdb"
)

// TestConvertMiniNT converts mini-NT's kernel PDB into a store directory
// and checks the ISF answers as the PDB does.
func TestConvertMiniNT(t *testing.T) {
	in := filepath.Join("..", "..", "integration", "guest", "out", "ntkrnlmp.pdb")
	if _, err := os.Stat(in); err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("mini-NT is not built: %v", err)
		}
		t.Skipf("mini-NT is not built (%v); run make -C integration/guest", err)
	}
	want, err := pdb.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-store", dir, in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	path := filepath.Join(dir, "ntkrnlmp.pdb", want.Identity().ISFKey()+".json.xz")
	if !strings.HasPrefix(stdout.String(), path+": ntkrnlmp.pdb ") {
		t.Errorf("stdout %q, want it to start with %s", stdout.String(), path)
	}
	got, err := isf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity() != want.Identity() {
		t.Errorf("identity %s, want %s", got.Identity(), want.Identity())
	}
	for _, p := range []string{"_MMPTE.u.Hard.PageFrameNumber", "_EPROCESS.Pcb.DirectoryTableBase", "_MMVAD_SHORT.u1.VadFlags1.MemCommit"} {
		w, werr := want.Field(p)
		g, gerr := got.Field(p)
		if werr != nil || gerr != nil || w.Offset != g.Offset || w.BitPosition != g.BitPosition || w.BitLength != g.BitLength {
			t.Errorf("%s: PDB %+v %v, ISF %+v %v", p, w, werr, g, gerr)
		}
	}

	// -o with a plain .json name and -name.
	plain := filepath.Join(dir, "k.json")
	if code := run([]string{"-o", plain, "-name", "ntoskrnl.pdb", in}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(plain)
	if err != nil || !bytes.HasPrefix(b, []byte("{")) || !bytes.Contains(b, []byte(`"database":"ntoskrnl.pdb"`)) {
		t.Errorf("plain output: %.80s, %v", b, err)
	}
}

func TestUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{{}, {"-o", "a", "-store", "b", "x.pdb"}, {"-bogus"}} {
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code := run([]string{filepath.Join(t.TempDir(), "missing.pdb")}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "missing.pdb") {
		t.Errorf("a missing input: exit %d, %s", code, stderr.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.pdb")
	os.WriteFile(bad, []byte("not a pdb"), 0o644)
	stderr.Reset()
	if code := run([]string{"-o", filepath.Join(t.TempDir(), "o.json"), bad}, &stdout, &stderr); code != 1 || stderr.Len() == 0 {
		t.Errorf("a bad input: exit %d, %s", code, stderr.String())
	}
}
