package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGroupDenial: a socket shared with a group the user is not in says
// so; one the user joined after logging in says to log in again; a
// private socket, or a group the session has, gives no group message.
func TestGroupDenial(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "frostd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const gid = 4242
	if err := os.Chown(sock, -1, gid); err != nil {
		t.Skipf("cannot give the socket a group: %v", err)
	}
	no := func(uint32) bool { return false }
	yes := func(g uint32) bool { return g == gid }

	os.Chmod(sock, 0o600)
	if msg, ok := groupDenialFor(sock, "eve", no, no); ok {
		t.Errorf("a private socket: %q", msg)
	}
	os.Chmod(sock, 0o660)
	msg, ok := groupDenialFor(sock, "eve", no, no)
	if !ok || !strings.Contains(msg, "(you are not in group 4242)") || !strings.Contains(msg, "usermod -aG 4242 eve") {
		t.Errorf("not a member: %q %v", msg, ok)
	}
	if msg, ok := groupDenialFor(sock, "eve", no, yes); !ok || !strings.Contains(msg, "log in again") || !strings.Contains(msg, "newgrp") {
		t.Errorf("member since this login: %q %v", msg, ok)
	}
	if msg, ok := groupDenialFor(sock, "eve", yes, yes); ok {
		t.Errorf("a member: %q", msg)
	}

	// The socket hidden behind a 0750 directory: the directory's group.
	inner := filepath.Join(dir, "run")
	os.Mkdir(inner, 0o750)
	os.Chown(inner, -1, gid)
	if msg, ok := groupDenialFor(filepath.Join(inner, "gone.sock"), "eve", no, no); !ok || !strings.Contains(msg, "group 4242") {
		t.Errorf("directory shared with a group: %q %v", msg, ok)
	}
}

// TestGroupDenialOfThisProcess: groupDenial with the process's own
// groups: a socket whose group the process has gives no group message.
func TestGroupDenialOfThisProcess(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chown(sock, -1, os.Getegid())
	os.Chmod(sock, 0o660)
	if msg, ok := groupDenial(sock); ok {
		t.Errorf("the process's own group: %q", msg)
	}
}

// TestSocketDeniedNamesGroup: a refused socket that frostd shares with a
// group the user lacks is explained by that group, not by the general
// advice on owners and modes.
func TestSocketDeniedNamesGroup(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const gid = 4243 // a group this process is not in
	if inSessionGroups(gid) {
		t.Skip("the process is in the test's group")
	}
	if err := os.Chown(sock, -1, gid); err != nil {
		t.Skipf("cannot give the socket a group: %v", err)
	}
	if err := os.Chmod(sock, 0o660); err != nil {
		t.Fatal(err)
	}
	msg := socketDenied(sock).Error()
	if !strings.Contains(msg, "(you are not in group 4243)") {
		t.Errorf("socketDenied on a group-shared socket: %q", msg)
	}
	if strings.Contains(msg, "To get access, either") {
		t.Errorf("the group message should replace the general advice: %q", msg)
	}
}
