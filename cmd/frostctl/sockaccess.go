package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// probeSocket connects to frostd's unix socket once before gRPC does, so
// that a failure says what is wrong. gRPC connects lazily and reports
// every failure as "Unavailable"; a user the socket refuses (frostd makes
// it 0600 in a 0700 directory) would otherwise be told, like one with no
// frostd at all, that frostd is not running.
func probeSocket(path string) error {
	if err := checkSocketDir(filepath.Dir(path), os.Geteuid(), path == defaultSocket()); err != nil {
		return err
	}
	c, err := net.DialTimeout("unix", path, 10*time.Second)
	if err == nil {
		return c.Close()
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return socketDenied(path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("no frostd socket at %s (is frostd running? --addr or $FROSTD name another)", path)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing listens on %s: frostd is not running (the socket is left from one that stopped; --addr or $FROSTD name another)", path)
	}
	return fmt.Errorf("connecting to frostd at %s: %w", path, err)
}

// socketDenied explains a permission error: who owns what, who the user
// is, and the three ways in. A socket frostd shares with a group (frostd
// --socket-group) gets the shorter answer first: which group is missing.
func socketDenied(path string) error {
	if msg, ok := groupDenial(path); ok {
		return errors.New(msg)
	}
	dir := filepath.Dir(path)
	return fmt.Errorf("permission denied connecting to frostd at %s: %s, and you are %s.\n"+
		"To get access, either:\n"+
		"  - run frostctl as the user frostd runs as (sudo frostctl ...);\n"+
		"  - have that user open the socket to a group you are in: chgrp GROUP %s %s; chmod g+x %s; chmod g+rw %s\n"+
		"    (frostd makes them 0700 and 0600 again when it restarts);\n"+
		"  - or talk to a frostd you may reach: --addr PATH (or $FROSTD), e.g. one you started with frostd --listen PATH",
		path, refuser(path), describeSelf(), dir, path, dir, path)
}

// refuser names what refused: the socket if the user may see it, else
// the deepest directory above it the user may see but not enter.
func refuser(path string) string {
	if _, err := os.Stat(path); err == nil {
		return "the socket is " + describeOwner(path)
	}
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			return "the directory " + p + " is " + describeOwner(p)
		}
		if p == filepath.Dir(p) {
			return "no directory above it can be read"
		}
	}
}

// describeOwner is "owned by root:root, mode 0700", or why it is not known.
func describeOwner(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "not readable (" + err.Error() + ")"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("mode %#o", fi.Mode().Perm())
	}
	return fmt.Sprintf("owned by %s:%s, mode %#o", userName(st.Uid), groupName(st.Gid), fi.Mode().Perm())
}

func describeSelf() string {
	uid := os.Geteuid()
	s := fmt.Sprintf("%s (uid %d", userName(uint32(uid)), uid)
	if groups, err := os.Getgroups(); err == nil && len(groups) > 0 {
		s += ", groups"
		for _, g := range groups {
			s += " " + groupName(uint32(g))
		}
	}
	return s + ")"
}

func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}

// checkSocketDir refuses to talk through a socket another user could have
// swapped in: frostctl would hand them its requests and show their
// answers as the guest's. In the default directory (its name is
// predictable, so anyone can create it first) only the user's own or
// root's will do; anywhere else the directory must not be writable by
// users besides its owner, unless sticky (as /tmp is), which stops them
// replacing a socket they do not own.
func checkSocketDir(dir string, euid int, isDefault bool) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		// Not visible (no directory, or one above it refuses): the dial
		// says which, with its own advice.
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	switch {
	case !fi.IsDir():
		return fmt.Errorf("refusing frostd's socket in %s: that is not a directory (%s), so whoever made it chose where it leads", dir, fi.Mode().Type())
	case isDefault && int(st.Uid) != euid && st.Uid != 0:
		return fmt.Errorf("refusing frostd's default socket: its directory %s is %s, not yours: another user may have made it to answer in frostd's place; "+
			"remove it (as its owner or root) and restart frostd, or name a socket with --addr", dir, describeOwner(dir))
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0:
		return fmt.Errorf("refusing frostd's socket in %s: the directory is %s, so other users may replace the socket; chmod go-w %s", dir, describeOwner(dir), dir)
	}
	return nil
}
