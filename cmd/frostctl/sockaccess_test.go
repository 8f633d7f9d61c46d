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
