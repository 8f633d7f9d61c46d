package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The spool's cap holds across uploads and comes back when they close,
// and a directory others can enter is refused.
func TestSpoolCapAndDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	sp, err := OpenSpool(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	a, err := sp.Create()
	if err != nil {
		t.Fatal(err)
	}
	b, err := sp.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(make([]byte, 41)); !errors.Is(err, ErrSpoolFull) {
		t.Errorf("past the cap across two uploads: %v, want ErrSpoolFull", err)
	}
	if strings.Contains(ErrSpoolFull.Error(), dir) {
		t.Error("the cap's error names the spool")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(make([]byte, 41)); err != nil || sp.Used() != 41 {
		t.Errorf("after the first closed: %v, used %d", err, sp.Used())
	}
	b.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 || sp.Used() != 0 {
		t.Errorf("after both closed: %d files, %d bytes", len(ents), sp.Used())
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("spool mode: %v, %v", fi, err)
	}

	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSpool(open, 0); err == nil {
		t.Error("a spool others can enter was accepted")
	}
	c := &Config{DataDir: "/var/lib/frost/vms"}
	if d, _ := c.SpoolDir(); d != "/var/lib/frost/spool" {
		t.Errorf("SpoolDir beside /var/lib/frost/vms = %s", d)
	}
}
