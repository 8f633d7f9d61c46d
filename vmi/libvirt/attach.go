package libvirt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/frostvmi/frost/vmi/qmp"
)

// AttachOptions says where the gdbstub of an attached domain listens.
type AttachOptions struct {
	// Dir is where the private socket directory is made; "" is
	// os.TempDir().
	Dir string
	// TCP puts the gdbstub on a loopback TCP port instead of a unix
	// socket. Every local user can connect to such a port, so only ask
	// for it when the client cannot use a unix socket.
	TCP bool
}

// Attachment is a running domain's gdbstub, started by Attach, and its
// QMP. The RSP session on it is vmi/gdbstub's.
type Attachment struct {
	// Network and Address are what net.Dial takes: ("unix",
	// "<Dir>/gdb.sock"), or ("tcp", "127.0.0.1:<port>") with TCP.
	Network, Address string
	// Dir is the 0700 directory holding the socket ("" with TCP).
	Dir string
	// QMP is the domain's QMP through libvirt.
	QMP *qmp.Passthrough
	// PID is QEMU's pid, or 0 if it could not be found (PID says why);
	// physmem needs it for the RAM file check, memfd and /proc/<pid>/mem.
	PID int
}

// Attach starts a gdbstub in the running domain's QEMU, over HMP
// `gdbserver` through libvirt's QMP passthrough, listening on a unix
// socket in a fresh 0700 directory: QEMU creates the socket 0755, so the
// directory is what keeps other local users out.
//
// QEMU runs one gdbstub at a time and refuses a second, so a running one
// (a -gdb option of the domain, or an earlier attach) is stopped first,
// which disconnects its client.
func (d *Domain) Attach(ctx context.Context, opt AttachOptions) (_ *Attachment, err error) {
	st, err := d.State(ctx)
	if err != nil {
		return nil, err
	}
	if st != StateRunning && st != StatePaused {
		return nil, fmt.Errorf("libvirt: attaching to domain %s: it is %s", d.d.Name, st)
	}
	a := &Attachment{QMP: d.QMP()}
	a.PID, _ = d.PID(ctx)

	var device string
	if opt.TCP {
		port, err := freeLoopbackPort()
		if err != nil {
			return nil, err
		}
		a.Network, a.Address = "tcp", port
		device = "tcp:" + port
	} else {
		// Directories a frostd that died left here; best effort, as a
		// leftover costs only an inode.
		_, _ = ReapGDBDirs(opt.Dir)
		if a.Dir, err = os.MkdirTemp(opt.Dir, gdbDirPrefix); err != nil { // mode 0700
			return nil, fmt.Errorf("libvirt: attaching to domain %s: %w", d.d.Name, err)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(a.Dir)
			}
		}()
		if err := shareWithQEMU(a.Dir, a.PID); err != nil {
			return nil, err
		}
		a.Network, a.Address = "unix", filepath.Join(a.Dir, "gdb.sock")
		if len(a.Address) > maxSocketPath {
			return nil, fmt.Errorf("libvirt: socket path %q is longer than a unix socket allows", a.Address)
		}
		device = "unix:" + a.Address + ",server=on,wait=off"
	}
	if err := a.QMP.StartGDBServer(ctx, device); err != nil {
		return nil, fmt.Errorf("libvirt: starting the gdbstub of domain %s: %w", d.d.Name, err)
	}
	return a, nil
}

// maxSocketPath is what fits sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

// shareWithQEMU hands the socket directory to QEMU's user when QEMU runs
// as another one (libvirt's usual qemu user), keeping mode 0700: QEMU has
// to create the socket in it. Only root can do that, and only root needs
// to: otherwise QEMU runs as us.
func shareWithQEMU(dir string, pid int) error {
	if pid <= 0 || os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return nil
	}
	if err := os.Chown(dir, int(sys.Uid), int(sys.Gid)); err != nil {
		return fmt.Errorf("libvirt: giving %s to QEMU's user %d: %w", dir, sys.Uid, err)
	}
	return nil
}

// freeLoopbackPort picks a port for the TCP gdbstub. Another process may
// take it before QEMU binds it; QEMU then refuses and Attach says so.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("libvirt: picking a gdbstub port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Close stops the gdbstub Attach started and removes its directory. The
// RSP client should have detached first (D;1), which leaves the guest
// running; Close does not resume a guest a client left stopped.
func (a *Attachment) Close(ctx context.Context) error {
	err := a.QMP.StopGDBServer(ctx)
	if a.Dir != "" {
		err = errors.Join(err, os.RemoveAll(a.Dir))
	}
	return err
}
