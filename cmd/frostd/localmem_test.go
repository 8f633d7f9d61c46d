package main

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/client"
)

// TestLocalMemorySideSocket: frostd on a unix socket serves the side
// socket beside it, with the same mode, at the path the client package
// derives; it answers (here: the VM is not attached) and is removed at
// shutdown.
func TestLocalMemorySideSocket(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	side := api.LocalMemorySocket(d.addr)
	if side != client.LocalMemorySocket(d.addr) {
		t.Fatalf("frostd serves %s, the client looks at %s", side, client.LocalMemorySocket(d.addr))
	}
	main, err := os.Stat(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(side)
	if err != nil {
		t.Fatalf("no side socket: %v", err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != main.Mode().Perm() {
		t.Errorf("side socket mode %v, the gRPC socket's %v", fi.Mode(), main.Mode())
	}
	c, err := client.Dial(ctxT(t), d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var refused *client.RefusedError
	if err := c.LocalMemory(ctxT(t), "nosuch"); !errors.As(err, &refused) || refused.Code != api.LocalMemNotAttached {
		t.Errorf("LocalMemory of an unknown VM: %v, want a not_attached refusal", err)
	}
	if rc := d.stop(); rc != 0 {
		t.Errorf("frostd exited with %d:\n%s", rc, d.out)
	}
	if _, err := os.Stat(side); !os.IsNotExist(err) {
		t.Errorf("side socket left behind after shutdown: %v", err)
	}
}

// TestTCPClientGetsNoRAM: frostd on TCP serves no side socket, and a
// client over TCP reads over gRPC only: it never receives a descriptor.
func TestTCPClientGetsNoRAM(t *testing.T) {
	p := newPKI(t)
	args := tcpArgs(t, p, "--client-ca", filepath.Join(p.dir, "ca.pem"))
	d := startDaemon(t, args...)
	dir := filepath.Dir(args[3]) // beside the state file, where a socket would be
	if m, _ := filepath.Glob(filepath.Join(dir, "*.mem.sock")); len(m) != 0 {
		t.Errorf("frostd on TCP made side sockets %v", m)
	}
	c, err := client.Dial(ctxT(t), "tcp:"+d.addr, client.WithTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.clientTL}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.LocalMemory(ctxT(t), "vm"); !errors.Is(err, client.ErrRemote) {
		t.Errorf("LocalMemory over TCP: %v, want ErrRemote", err)
	}
	// The read reaches frostd over gRPC (which has no such VM).
	if err := c.ReadPhysical(ctxT(t), "vm", 0x1000, make([]byte, 16)); err == nil || errors.Is(err, client.ErrRemote) {
		t.Errorf("ReadPhysical over TCP of an unknown VM: %v, want frostd's error", err)
	}
}
