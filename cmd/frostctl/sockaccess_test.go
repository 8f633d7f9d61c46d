package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A user whom frostd's socket refuses (frostd makes it 0600 in a 0700
// directory) is told so, and how to get access; never that frostd is not
// running (issue 12, item 12). As root, the binary runs as nobody against
// a root-only socket; otherwise the user's own socket is made 0000.
func TestSocketPermissionDenied(t *testing.T) {
	dir := t.TempDir() // 0700
	sock := filepath.Join(dir, "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	// The binary must be reachable by the user it runs as.
	binDir, err := os.MkdirTemp("", "frostctl-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "frostctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "--addr", sock, "vms")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else if err := os.Chmod(sock, 0); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("frostctl vms on a socket it may not open: %v, want exit 1\nstderr:\n%s", err, stderr.String())
	}
	msg := stderr.String()
	t.Logf("stderr:\n%s", msg)
	for _, want := range []string{"permission denied", sock, "To get access", "sudo frostctl", "chgrp", "--addr PATH"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(msg, "is frostd running") || strings.Contains(msg, "not running") {
		t.Errorf("a refused socket is reported as frostd not running")
	}
}

// The other ways a unix socket fails each say what they are: no socket
// at all, and a socket nobody listens on any more.
func TestSocketMissingOrStale(t *testing.T) {
	dir := t.TempDir()
	err := probeSocket(filepath.Join(dir, "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "is frostd running") {
		t.Errorf("missing socket: %v", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	lis, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(false)
	lis.Close()
	err = probeSocket(stale)
	if err == nil || !strings.Contains(err.Error(), "frostd is not running") {
		t.Errorf("stale socket: %v", err)
	}
}

// frostctl does not talk through a socket another user could have swapped
// in (issue 19): its default directory must be the user's own or root's,
// and no directory may be writable by others unless it is sticky.
func TestCheckSocketDir(t *testing.T) {
	const me = 1000
	self := os.Geteuid()
	cases := []struct {
		name      string
		mode      os.FileMode
		uid, euid int
		isDefault bool
		want      string // "" accepts
	}{
		{"default, own", 0o700, self, self, true, ""},
		{"default, another user's", 0o700, 4242, me, true, "not yours"},
		{"default, root's", 0o755, 0, me, true, ""},
		{"default, own but world-writable", 0o777, self, self, true, "chmod go-w"},
		{"explicit, another user's", 0o750, 4242, me, false, ""},
		{"explicit, group-writable", 0o770, self, self, false, "other users may replace"},
		{"explicit, sticky world-writable", 0o777 | os.ModeSticky, self, self, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "frost")
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(d, c.mode); err != nil {
				t.Fatal(err)
			}
			if c.uid != self {
				if err := os.Chown(d, c.uid, -1); err != nil {
					t.Skipf("chown needs root: %v", err)
				}
			}
			err := checkSocketDir(d, c.euid, c.isDefault)
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

// probeSocket applies the check before it dials: a live socket in a
// directory others may write is refused, not connected to.
func TestProbeSocketRefusesWritableDir(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := probeSocket(sock); err != nil {
		t.Fatalf("own 0700 directory: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := probeSocket(sock); err == nil || !strings.Contains(err.Error(), "other users may replace the socket") {
		t.Fatalf("world-writable directory: %v, want refused", err)
	}
}
