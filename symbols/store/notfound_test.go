package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingBuildSaysWhatAndWhere: a symbol store laid out as documented
// that holds another build of ntkrnlmp.pdb. The error names the identity
// looked for (name, GUID, age) and every path tried, says what the store
// holds instead, and is not the "is a directory" of opening the store's
// ntkrnlmp.pdb/ directory as a file.
func TestMissingBuildSaysWhatAndWhere(t *testing.T) {
	dir := t.TempDir()
	other := id(t, guidB, 1)
	p := filepath.Join(dir, filepath.FromSlash(PDBPath(other)))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, miniPDB(t, guidB, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := New(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	want := id(t, guidA, 26)
	_, _, err = st.Load(context.Background(), want)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("a build the store lacks: %v, want ErrNotFound", err)
	}
	if errors.Is(err, ErrMismatch) {
		t.Errorf("the other build's file was opened as if it were asked for: %v", err)
	}
	msg := err.Error()
	if strings.Contains(msg, "is a directory") {
		t.Errorf("the store's name directory was read as a file: %v", msg)
	}
	for _, s := range []string{
		"ntkrnlmp.pdb", "GUID " + guidA, "age 26",
		filepath.Join(dir, "ntkrnlmp.pdb", guidA+"1A", "ntkrnlmp.pdb"),
		filepath.Join(dir, "ntkrnlmp.pdb", guidA+"-26.json.xz"),
		filepath.Join(dir, "ntkrnlmp.pdb", guidA+"-26.json"),
		filepath.Join(dir, "windows", "ntkrnlmp.pdb", guidA+"-26.json.xz"),
		// What the store has instead: the likeliest mistake is a store
		// for another build of Windows.
		guidB + "1",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("the error does not say %q:\n%s", s, msg)
		}
	}
}

// TestServerMissListsEveryURL: a server that has none of the layouts is
// named with each URL asked for, not only the PDB's.
func TestServerMissListsEveryURL(t *testing.T) {
	srv := newServer(t, map[string][]byte{})
	st, err := New("srv*"+t.TempDir()+"*"+srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = st.Load(context.Background(), id(t, guidA, 1))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("an empty server: %v", err)
	}
	asked := srv.requests()
	if len(asked) < 3 {
		t.Errorf("the server was asked %v, want the PDB and the ISF layouts", asked)
	}
	for _, r := range asked {
		// The probes for forms Frost cannot read (.pd_, file.ptr) are
		// named only when they answer.
		if strings.HasSuffix(r, ".pd_") || strings.HasSuffix(r, "/file.ptr") {
			continue
		}
		if !strings.Contains(err.Error(), srv.URL+r) {
			t.Errorf("the error does not name %s:\n%v", srv.URL+r, err)
		}
	}
}

// TestEmptyStorePath: a Store with no path says so instead of "not found
// in" nothing.
func TestEmptyStorePath(t *testing.T) {
	_, _, err := (&Store{}).Load(context.Background(), id(t, guidA, 1))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "empty symbol path") {
		t.Errorf("no path: %v", err)
	}
}

// TestMistypedDirectory: a path entry that is not a directory says so in
// one line instead of listing the files it would have held.
func TestMistypedDirectory(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "symbosl")
	file := filepath.Join(t.TempDir(), "ntkrnlmp.txt")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for entry, want := range map[string]string{
		missing: missing + ": symbols not found: stat " + missing + ": no such file or directory",
		file:    file + ": symbols not found: " + file + " is not a directory",
	} {
		st, err := New(entry, "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = st.Load(context.Background(), id(t, guidA, 1))
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "no file at") {
			t.Errorf("path %s: %v\nwant a line %q", entry, err, want)
		}
	}
}
