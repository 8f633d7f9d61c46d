package api

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The file rule of DumpPhysicalToFile, on the files a caller could name:
// its own empty file passes; /proc files, which look like empty regular
// files its uid owns, do not (a root frostd writing there would change
// the system); nor do another uid's file, a non-empty one, a symlink, a
// relative path, or a caller the kernel did not name.
func TestOpenCallersFile(t *testing.T) {
	me := &PeerAddr{UID: uint32(os.Getuid())}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := openCallersFile(me, empty)
	if err != nil {
		t.Fatalf("the caller's own empty file: %v", err)
	}
	syscall.Close(fd)

	full := filepath.Join(dir, "full")
	if err := os.WriteFile(full, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(empty, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who  *PeerAddr
		path string
		want string
	}{
		{me, "/proc/self/oom_score_adj", "file system"},
		{me, "/proc/" + uitoa(uint64(os.Getpid())) + "/uid_map", "file system"},
		{&PeerAddr{UID: me.UID + 1}, empty, "owned by uid"},
		{me, full, "not empty"},
		{me, link, "cannot open it"},
		{me, "empty", "not absolute"},
		{nil, empty, "only over frostd's unix socket"},
	} {
		fd, err := openCallersFile(tc.who, tc.path)
		if err == nil {
			syscall.Close(fd)
			t.Errorf("%s: accepted", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want it to say %q", tc.path, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(full); string(b) != "x" {
		t.Errorf("a refused file changed: %q", b)
	}
}
