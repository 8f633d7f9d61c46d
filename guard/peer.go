package guard

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// peerUID is the uid of the process at the other end of a unix socket,
// as the kernel says (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// trusted says whether uid may speak with us: ourselves, or root.
func trusted(uid uint32) bool {
	return uid == uint32(os.Geteuid()) || uid == 0
}

// checkPeer refuses a peer of another user: only frostd of our own user
// (or root) may tell the guard what to let go, and only our own guard
// may be told what frostd holds.
func checkPeer(c *net.UnixConn) error {
	uid, err := peerUID(c)
	if err != nil {
		return fmt.Errorf("guard: reading the peer's credentials: %w", err)
	}
	if !trusted(uid) {
		return fmt.Errorf("guard: peer runs as uid %d, not %d", uid, os.Geteuid())
	}
	return nil
}

// checkOwned refuses a path another user owns or may write: a socket or
// directory someone else made could be swapped for theirs.
func checkOwned(path string, wantSocket bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("guard: no owner information for " + path)
	}
	if !trusted(st.Uid) {
		return fmt.Errorf("guard: %s belongs to uid %d, not %d", path, st.Uid, os.Geteuid())
	}
	if wantSocket {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("guard: %s is not a socket", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("guard: socket %s has mode %o, want 0600", path, fi.Mode().Perm())
		}
		return nil
	}
	if !fi.IsDir() {
		return fmt.Errorf("guard: %s is not a directory", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("guard: directory %s has mode %o: others could replace the socket", path, fi.Mode().Perm())
	}
	return nil
}
