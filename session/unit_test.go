package session

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/frostvmi/frost/nt"
)

func TestStateFileKeepsUnrecovered(t *testing.T) {
	f := &StateFile{Path: filepath.Join(t.TempDir(), "sub", "state.json")}
	if names, err := f.Load(); err != nil || len(names) != 0 {
		t.Fatalf("missing file: %v, %v", names, err)
	}
	f.Keep([]string{"old"})
	if err := f.Save([]string{"b", "a"}); err != nil {
		t.Fatal(err)
	}
	names, err := f.Load()
	if err != nil || !reflect.DeepEqual(names, []string{"a", "b", "old"}) {
		t.Errorf("Load = %v, %v", names, err)
	}
	if err := f.Save([]string{"old"}); err != nil { // now held: no longer "unrecovered"
		t.Fatal(err)
	}
	if err := f.Save(nil); err != nil {
		t.Fatal(err)
	}
	if names, _ := f.Load(); len(names) != 0 {
		t.Errorf("after release: %v", names)
	}
}

// A paging file is found by the base name of the guest's PageFileName, and
// no guest name reaches outside the VM's directory.
func TestPagefilesStayInTheirDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pagefile.sys"), []byte("PF"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	open := pagefiles(root)
	if r, err := open(nt.PagingFile{Name: `\??\C:\pagefile.sys`}); err != nil || r == nil {
		t.Errorf("pagefile.sys: %v, %v", r, err)
	}
	for _, name := range []string{`\??\C:\..`, `\??\C:\missing.sys`, `C:\`, `../../etc/passwd`} {
		if r, err := open(nt.PagingFile{Name: name}); r != nil {
			t.Errorf("%q opened something (%v)", name, err)
		}
	}
}
