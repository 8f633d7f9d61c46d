package qemu

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/frostvmi/frost/integration/guest/disk"
)

// guestFiles is one guest's private 0700 directory and what lives in it:
// the C: image, the serial log and the sockets. A directly launched Machine
// and a libvirt Domain lay it out the same way.
type guestFiles struct {
	dir    string
	serial string
	gdb    string // the gdbstub's unix socket; "" when it listens on TCP
	gdbTCP string // the gdbstub's loopback address when Config.GDBTCP
	qmp    string
	// vmiQMP is a second QMP monitor, kept for the vmi.Target's
	// persistent connection (events, capabilities, the guest-physical
	// map): QEMU serves one client per QMP socket, and Machine.Pause and
	// Resume dial the first one afresh each time.
	vmiQMP string
	disk   string
}

// filesIn names the files of a guest directory; nothing is created.
func filesIn(dir string) guestFiles {
	return guestFiles{
		dir:    dir,
		serial: filepath.Join(dir, "serial.log"),
		gdb:    filepath.Join(dir, "gdb.sock"),
		qmp:    filepath.Join(dir, "qmp.sock"),
		vmiQMP: filepath.Join(dir, "vmi-qmp.sock"),
		disk:   filepath.Join(dir, "c.img"),
	}
}

// makeGuestFiles creates a guest directory (mode 0700: QEMU makes its
// sockets 0755) and its C: image, and picks the gdbstub's address. On error
// nothing is left behind.
func makeGuestFiles(prefix string, cfg Config) (_ guestFiles, err error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return guestFiles{}, fmt.Errorf("qemu: %w", err)
	}
	g := filesIn(dir)
	defer func() {
		if err != nil {
			g.remove()
		}
	}()
	if cfg.GDBTCP {
		g.gdb = ""
		if g.gdbTCP, err = freeLoopbackPort(); err != nil {
			return guestFiles{}, err
		}
	}
	if err := disk.NewStandard(g.disk, cfg.GuestDir); err != nil {
		return guestFiles{}, fmt.Errorf("qemu: C: image: %w", err)
	}
	return g, nil
}

// gdbArg is the value of QEMU's -gdb option.
func (g *guestFiles) gdbArg() string {
	if g.gdbTCP != "" {
		return "tcp:" + g.gdbTCP
	}
	return "unix:" + g.gdb + ",server=on,wait=off"
}

func (g *guestFiles) remove() error {
	if g.dir == "" {
		return nil
	}
	return os.RemoveAll(g.dir)
}

// Dir is the guest's private 0700 directory.
func (g *guestFiles) Dir() string { return g.dir }

// SerialPath is the file COM1 writes to.
func (g *guestFiles) SerialPath() string { return g.serial }

// DiskPath is the C: image. Read it once the guest is stopped for a
// consistent view.
func (g *guestFiles) DiskPath() string { return g.disk }

// GDBSocket is the gdbstub's unix socket, or "" when it listens on TCP.
func (g *guestFiles) GDBSocket() string { return g.gdb }

// GDBAddr is the gdbstub's address as net.Dial takes it: ("unix", path) or
// ("tcp", "127.0.0.1:port").
func (g *guestFiles) GDBAddr() (network, address string) {
	if g.gdbTCP != "" {
		return "tcp", g.gdbTCP
	}
	return "unix", g.gdb
}
