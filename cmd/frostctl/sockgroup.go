package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// groupDenial explains a refused connection to a frostd that shares its
// socket with a group (frostd --socket-group: socket 0660, directory
// 0750): "permission denied (you are not in group X)", or, for a user the
// group database lists but whose login predates it, that a new login is
// needed. ok is false when the socket is not shared with a group, and the
// general explanation (socketDenied) applies.
func groupDenial(path string) (msg string, ok bool) {
	u, err := user.Current()
	if err != nil {
		return "", false
	}
	return groupDenialFor(path, u.Username, inSessionGroups, func(gid uint32) bool {
		ids, err := u.GroupIds()
		return err == nil && slices.Contains(ids, strconv.FormatUint(uint64(gid), 10))
	})
}

// groupDenialFor is groupDenial with the caller's groups given: inSession
// for the process's groups now, inDatabase for the user database's.
func groupDenialFor(path, username string, inSession, inDatabase func(gid uint32) bool) (string, bool) {
	gid, ok := sharedGroup(path)
	if !ok || inSession(gid) {
		return "", false
	}
	group := groupName(gid)
	if inDatabase(gid) {
		return fmt.Sprintf("permission denied connecting to frostd at %s: you are in group %s, but this login session started before you were added: "+
			"log in again (or run: newgrp %s)", path, group, group), true
	}
	return fmt.Sprintf("permission denied connecting to frostd at %s (you are not in group %s): ask an administrator to add you "+
		"(usermod -aG %s %s), then log in again", path, group, group, username), true
}

// sharedGroup is the group the socket is shared with: the socket's group
// when it grants the group read and write, else its directory's when that
// grants the group entry (the socket itself cannot be seen then).
func sharedGroup(path string) (uint32, bool) {
	if fi, err := os.Stat(path); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().Perm()&0o060 == 0o060 {
			return st.Gid, true
		}
		return 0, false
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return 0, false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().Perm()&0o010 != 0 {
		return st.Gid, true
	}
	return 0, false
}

func inSessionGroups(gid uint32) bool {
	if uint32(os.Getegid()) == gid {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, int(gid))
}
