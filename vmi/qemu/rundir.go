package qemu

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// RunDir is one guest's private directory and the endpoints in it: the
// serial log, the gdbstub's socket and two QMP sockets. It is made 0700
// because QEMU makes its sockets 0755, and a socket is reachable by anyone
// who can reach its directory. A directly launched Machine and a guest
// prepared for libvirt (which serves QMP itself) lay it out the same way.
type RunDir struct {
	dir    string
	serial string
	gdb    string // the gdbstub's unix socket; "" when it listens on TCP
	gdbTCP string // the gdbstub's loopback address when it listens on TCP
	qmp    string
	// vmiQMP is a second QMP monitor, kept for the vmi.Target's
	// persistent connection (events, capabilities, the guest-physical
	// map): QEMU serves one client per QMP socket, and Machine.Pause and
	// Resume dial the first one afresh each time.
	vmiQMP string
}

// RunDirAt names the files of a run directory at dir; nothing is created.
func RunDirAt(dir string) RunDir {
	return RunDir{
		dir:    dir,
		serial: filepath.Join(dir, "serial.log"),
		gdb:    filepath.Join(dir, "gdb.sock"),
		qmp:    filepath.Join(dir, "qmp.sock"),
		vmiQMP: filepath.Join(dir, "vmi-qmp.sock"),
	}
}

// NewRunDir creates a run directory (mode 0700) under the temporary
// directory, its name starting with prefix, and picks the gdbstub's
// address: a unix socket in it, or with gdbTCP a free loopback port.
func NewRunDir(prefix string, gdbTCP bool) (_ RunDir, err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return RunDir{}, fmt.Errorf("qemu: %w", err)
	}
	d := RunDirAt(dir)
	if gdbTCP {
		d.gdb = ""
		if d.gdbTCP, err = freeLoopbackPort(); err != nil {
			d.Remove()
			return RunDir{}, err
		}
	}
	return d, nil
}

// freeLoopbackPort picks a port for the TCP gdbstub. Another process may
// take it before QEMU binds it; QEMU then fails to start and says so.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("qemu: picking a gdbstub port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// GDBArg is the value of QEMU's -gdb option.
func (d *RunDir) GDBArg() string {
	if d.gdbTCP != "" {
		return "tcp:" + d.gdbTCP
	}
	return "unix:" + d.gdb + ",server=on,wait=off"
}

// Remove deletes the directory and everything in it.
func (d *RunDir) Remove() error {
	if d.dir == "" {
		return nil
	}
	return os.RemoveAll(d.dir)
}

// Dir is the guest's private 0700 directory.
func (d *RunDir) Dir() string { return d.dir }

// SerialPath is the file COM1 writes to.
func (d *RunDir) SerialPath() string { return d.serial }

// GDBSocket is the gdbstub's unix socket, or "" when it listens on TCP.
func (d *RunDir) GDBSocket() string { return d.gdb }

// GDBAddr is the gdbstub's address as net.Dial takes it: ("unix", path) or
// ("tcp", "127.0.0.1:port").
func (d *RunDir) GDBAddr() (network, address string) {
	if d.gdbTCP != "" {
		return "tcp", d.gdbTCP
	}
	return "unix", d.gdb
}
