package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkSocketDir refuses a socket directory in which another user could
// swap frostd's socket for their own: a client that connected would then
// hand its requests (and, with --allow-write, guest writes) to them.
//
// A private directory is a non-root frostd's default (/tmp/frost-<uid> or
// $XDG_RUNTIME_DIR/frost). Its path is predictable, so anyone can create
// it first; frostd accepts it only as the euid's own with mode 0700, or
// 0750 as --socket-group leaves it (a group that may enter but never
// write, so it cannot replace the socket either).
// Any other directory must at least not belong to another ordinary user.
func checkSocketDir(dir string, euid int, private bool) error {
	// Lstat: a symlink planted in /tmp would otherwise be followed to a
	// directory its creator chose.
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("socket directory %s: no owner information", dir)
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("socket directory %s is not a directory (%s); remove it, or pick another socket with --listen", dir, fi.Mode().Type())
	case private && int(st.Uid) != euid:
		return fmt.Errorf("socket directory %s is owned by uid %d, not by you (uid %d): another user may have made it to take over frostd's socket; "+
			"remove it (as its owner or root) so frostd creates it with mode 0700, or pick another socket with --listen", dir, st.Uid, euid)
	case private && fi.Mode().Perm()&0o027 != 0:
		return fmt.Errorf("socket directory %s has mode %#o: other users could replace frostd's socket in it; run chmod 0700 %s", dir, fi.Mode().Perm(), dir)
	case !private && int(st.Uid) != euid && st.Uid != 0:
		return fmt.Errorf("socket directory %s is owned by uid %d, neither you (uid %d) nor root: its owner could replace frostd's socket; pick another socket with --listen", dir, st.Uid, euid)
	}
	return nil
}
