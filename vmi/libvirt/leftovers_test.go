package libvirt

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A frostd that exits uncleanly leaves its frost-gdb-* directories
// (issue 19). The next one removes those nobody listens in any more, and
// keeps one whose socket is still served (a live attachment) and one made
// a moment ago.
func TestReapGDBDirs(t *testing.T) {
	base := t.TempDir()
	old := time.Now().Add(-2 * gdbDirGrace)
	mk := func(name string, age time.Time) string {
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "gdb.sock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(d, age, age); err != nil {
			t.Fatal(err)
		}
		return d
	}
	dead := mk("frost-gdb-dead", old)
	fresh := mk("frost-gdb-fresh", time.Now())
	other := mk("not-frost", old)

	live := filepath.Join(base, "frost-gdb-live")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(live, "gdb.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chtimes(live, old, old); err != nil {
		t.Fatal(err)
	}

	removed, err := ReapGDBDirs(base)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Errorf("removed %v, want only %s", removed, dead)
	}
	for _, keep := range []string{fresh, other, live} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v, want kept", keep, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want removed", dead, err)
	}
}
