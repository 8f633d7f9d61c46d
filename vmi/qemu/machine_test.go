package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &tailBuffer{max: 8}
	b.Write([]byte("0123456789"))
	b.Write([]byte("ab"))
	if got := b.String(); got != "456789ab" {
		t.Errorf("tail = %q", got)
	}
}

func TestNewRunDir(t *testing.T) {
	d, err := NewRunDir("frost-qemu-test-", false)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(d.Dir()); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("run dir mode = %v, %v; want 0700", st.Mode(), err)
	}
	if n, a := d.GDBAddr(); n != "unix" || a != filepath.Join(d.Dir(), "gdb.sock") || d.GDBSocket() != a {
		t.Errorf("gdb at %s %s", n, a)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Remove left %s: %v", d.Dir(), err)
	}

	d, err = NewRunDir("frost-qemu-test-", true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if n, a := d.GDBAddr(); n != "tcp" || !strings.HasPrefix(a, "127.0.0.1:") || d.GDBSocket() != "" || d.GDBArg() != "tcp:"+a {
		t.Errorf("TCP gdb at %s %s, socket %q, arg %q", n, a, d.GDBSocket(), d.GDBArg())
	}
}

// A Setup that fails ends Start with its error, and nothing of the
// machine is left behind; QEMU never runs.
func TestStartCleansUpAfterSetup(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "k.elf")
	os.WriteFile(kernel, []byte("x"), 0o644)
	var dir string
	boom := errors.New("no disk today")
	_, err := Start(context.Background(), Config{Kernel: kernel, QEMU: "/bin/false", RAM: RAMPrivate,
		Setup: func(d string) error { dir = d; return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want Setup's error", err)
	}
	if dir == "" {
		t.Fatal("Setup never ran")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Start left its directory %s behind: %v", dir, err)
	}
}
