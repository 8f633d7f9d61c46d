package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A non-root frostd's default socket directory has a predictable name, so
// another user can create it first and swap the socket (issue 19). It is
// accepted only as the euid's own with mode 0700 (0750 with
// --socket-group); any other directory only if it is the euid's or root's.
func TestCheckSocketDir(t *testing.T) {
	const me = 1000
	mk := func(t *testing.T, mode os.FileMode, uid int) string {
		t.Helper()
		d := filepath.Join(t.TempDir(), "frost-1000")
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if uid != os.Geteuid() {
			if err := os.Chown(d, uid, -1); err != nil {
				t.Skipf("chown needs root: %v", err)
			}
		}
		return d
	}
	self := os.Geteuid()
	cases := []struct {
		name    string
		mode    os.FileMode
		uid     int // owner of the directory
		euid    int // frostd's
		private bool
		want    string // "" accepts
	}{
		{"own 0700", 0o700, self, self, true, ""},
		{"own but 0755", 0o755, self, self, true, "chmod 0700"},
		{"own but group-writable", 0o770, self, self, true, "chmod 0700"},
		{"own, opened to --socket-group", 0o750, self, self, true, ""},
		{"another user's", 0o700, 4242, me, true, "owned by uid 4242, not by you (uid 1000)"},
		{"root's, for a user", 0o700, 0, me, true, "owned by uid 0"},
		{"explicit, another user's", 0o700, 4242, me, false, "neither you (uid 1000) nor root"},
		{"explicit, root's", 0o755, 0, me, false, ""},
		{"explicit, own", 0o755, me, me, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkSocketDir(mk(t, c.mode, c.uid), c.euid, c.private)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error saying %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q lacks %q", err, c.want)
			}
		})
	}
}

// A symlink planted where the directory should be is not followed.
func TestCheckSocketDirSymlink(t *testing.T) {
	base := t.TempDir()
	target := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "frost-1000")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	err := checkSocketDir(link, os.Geteuid(), true)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("symlinked socket directory: %v, want refused as not a directory", err)
	}
}

// listenUnix makes the directory it needs, and the check accepts what it
// made.
func TestListenUnixMakesAcceptableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made")
	l, err := listenUnix(filepath.Join(dir, "frostd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := checkSocketDir(dir, os.Geteuid(), true); err != nil {
		t.Fatalf("the directory listenUnix made: %v", err)
	}
}
