package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
)

// socketGroup is --socket-group: the group that may connect to frostd's
// unix sockets (0660) and enter their directory (0750).
type socketGroup struct {
	name string
	gid  int
}

func lookupSocketGroup(name string) (*socketGroup, error) { return lookupGroup("--socket-group", name) }

func lookupGroup(flag, name string) (*socketGroup, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flag, name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return nil, fmt.Errorf("%s %q: gid %q: %w", flag, name, g.Gid, err)
	}
	return &socketGroup{name: name, gid: gid}, nil
}

// groupDirs maps a socket directory to the group its sockets are shared
// with, so that every socket listenUnix makes there (the gRPC socket and
// its side sockets) gets the same group, without each caller passing it.
// It is keyed by directory so that two frostds in one process (tests)
// with different directories do not meet.
var groupDirs = struct {
	sync.Mutex
	m map[string]*socketGroup
}{m: map[string]*socketGroup{}}

// shareSocketDir makes dir's sockets the group's until undo.
func shareSocketDir(dir string, g *socketGroup) (undo func()) {
	dir = filepath.Clean(dir)
	groupDirs.Lock()
	groupDirs.m[dir] = g
	groupDirs.Unlock()
	return func() {
		groupDirs.Lock()
		delete(groupDirs.m, dir)
		groupDirs.Unlock()
	}
}

func groupForDir(dir string) *socketGroup {
	groupDirs.Lock()
	defer groupDirs.Unlock()
	return groupDirs.m[filepath.Clean(dir)]
}

// openDir gives the group the directory: 0750, never group-writable (a
// member could otherwise replace the socket).
func (g *socketGroup) openDir(dir string) error {
	if err := os.Chown(dir, -1, g.gid); err != nil {
		return fmt.Errorf("--socket-group %s: %w", g.name, err)
	}
	return os.Chmod(dir, 0o750)
}

// openSocket gives the group the socket: 0660. The socket was made 0600,
// so until the chmod only frostd's user could connect: there is no moment
// when others could.
func (g *socketGroup) openSocket(path string) error {
	if err := os.Chown(path, -1, g.gid); err != nil {
		return fmt.Errorf("--socket-group %s: %w", g.name, err)
	}
	return os.Chmod(path, 0o660)
}

// groupableDir refuses to share a non-root frostd's default directory: it
// must stay 0700 (it may sit in /tmp, where another user could have made
// it first, and checkSocketDir refuses it otherwise at the next start).
func groupableDir(euid int, dir string) error {
	if euid != 0 && filepath.Clean(dir) == filepath.Clean(defaultDir()) {
		return fmt.Errorf("--socket-group needs a socket directory of frostd's own: %s stays private (0700); give --listen DIR/frostd.sock in a directory you made", dir)
	}
	return nil
}
