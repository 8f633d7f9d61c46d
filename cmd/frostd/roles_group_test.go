package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestSocketGroupRealUsers: with --socket-group the socket is 0660 and its
// directory 0750 for the group; a real user outside the group is refused
// by the kernel (EACCES), a member connects; with --operator-group that
// member, not an operator, is refused a Pause with PermissionDenied naming
// the group. Needs root (useradd); skipped otherwise.
func TestSocketGroupRealUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create users")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("no useradd")
	}
	const sockGroup, opsGroup, outsider, member = "frosth6sock", "frosth6ops", "frosth6out", "frosth6mem"
	for _, g := range []string{sockGroup, opsGroup} {
		mustRun(t, "groupadd", "-f", g)
		t.Cleanup(func() { exec.Command("groupdel", g).Run() })
	}
	for _, u := range [][]string{{outsider}, {member, "-G", sockGroup}} {
		exec.Command("userdel", u[0]).Run() // a leftover of a killed run
		mustRun(t, "useradd", append([]string{"-M", "-N", "-s", "/usr/sbin/nologin"}, u...)...)
		t.Cleanup(func() { exec.Command("userdel", u[0]).Run() })
	}

	// A tree the test users may traverse, holding a copy of this test
	// binary they may run.
	base, err := os.MkdirTemp("", "frost-h6-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o711)
	self := filepath.Join(base, "frostd.test")
	copyExecutable(t, os.Args[0], self, 0o755)

	sock := filepath.Join(base, "run", "frostd.sock")
	args := baseArgs(t)
	args[1] = sock
	d := startDaemon(t, append(args, "--socket-group", sockGroup, "--operator-group", opsGroup)...)
	gid := groupID(t, sockGroup)
	checkModeGroup(t, sock, 0o660, gid)
	checkModeGroup(t, filepath.Dir(sock), 0o750, gid)

	if out := dialAs(t, self, outsider, d.addr); !strings.Contains(out, "EACCES") {
		t.Errorf("%s (not in %s): %s, want EACCES", outsider, sockGroup, out)
	}
	out := dialAs(t, self, member, d.addr)
	t.Logf("%s: %s", member, out)
	if !strings.Contains(out, "PermissionDenied") || !strings.Contains(out, "needs the operator role") || !strings.Contains(out, opsGroup) {
		t.Errorf("%s (in %s, not in %s): %s, want a role denial naming %s", member, sockGroup, opsGroup, out, opsGroup)
	}
}

// TestHelperDialAs is not a test: TestSocketGroupRealUsers runs this
// binary as another user with FROST_H6_DIAL set; it connects and pauses.
func TestHelperDialAs(t *testing.T) {
	sock := os.Getenv("FROST_H6_DIAL")
	if sock == "" {
		t.Skip("helper process only")
	}
	c, err := net.Dial("unix", sock)
	if errors.Is(err, fs.ErrPermission) {
		fmt.Println("RESULT EACCES")
		return
	}
	if err != nil {
		fmt.Println("RESULT dial:", err)
		return
	}
	c.Close()
	_, err = pb.NewCPUServiceClient(dialUnix(t, sock)).Pause(ctxT(t), &pb.PauseRequest{Vm: "nope"})
	st := status.Convert(err)
	fmt.Println("RESULT", st.Code(), st.Message())
}

func dialAs(t *testing.T, bin, name, sock string) string {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd := exec.Command(bin, "-test.run=^TestHelperDialAs$", "-test.v")
	cmd.Env = append(os.Environ(), "FROST_H6_DIAL="+sock, "HOME=/")
	// Groups as login would set them: the user's supplementary groups.
	var groups []uint32
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			n, _ := strconv.Atoi(id)
			groups = append(groups, uint32(n))
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}}
	cmd.Dir = "/"
	b, err := cmd.CombinedOutput()
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "RESULT "); ok {
			return r
		}
	}
	t.Fatalf("helper as %s: %v\n%s", name, err, b)
	return ""
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func copyExecutable(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func groupID(t *testing.T, name string) uint32 {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(g.Gid)
	return uint32(n)
}

func checkModeGroup(t *testing.T, path string, mode os.FileMode, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != mode || st.Gid != gid {
		t.Errorf("%s: mode %#o gid %d, want %#o gid %d", path, fi.Mode().Perm(), st.Gid, mode, gid)
	}
}
