package libvirt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PIDDir is where the system libvirtd keeps the pid file of each running
// QEMU (<name>.pid).
const PIDDir = "/var/run/libvirt/qemu"

// PID returns the domain's QEMU process id, which /proc/<pid>/fd and
// /proc/<pid>/mem need. libvirt's API does not expose it; its pid file
// does, for a libvirtd on this host, readable by root. The process is
// checked to be the domain's QEMU (its command line names the guest), so
// a stale pid file is not believed.
func (d *Domain) PID(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return pidOf(PIDDir, "/proc", d.d.Name)
}

func pidOf(pidDir, proc, name string) (int, error) {
	if strings.ContainsRune(name, '/') || name == "" || name == "." || name == ".." {
		return 0, fmt.Errorf("libvirt: domain name %q cannot name a pid file", name)
	}
	b, err := os.ReadFile(filepath.Join(pidDir, name+".pid"))
	if err != nil {
		return 0, fmt.Errorf("libvirt: QEMU pid of domain %s: %w (is it running, on this host, and are we root?)", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("libvirt: pid file of domain %s holds %q", name, b)
	}
	cmdline, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return 0, fmt.Errorf("libvirt: QEMU of domain %s (pid %d) is gone: %w", name, pid, err)
	}
	// libvirt starts QEMU with "-name guest=<name>,debug-threads=on".
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		for _, opt := range strings.Split(string(arg), ",") {
			if opt == "guest="+name {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("libvirt: pid %d from the pid file of domain %s is not its QEMU", pid, name)
}
