package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// requireLinuxE2E checks what the Linux guest's test needs: libvirt and
// QEMU as for mini-NT, apt and dpkg to fetch the guest, and root (libvirtd's
// setup, the package cache). The guest is fetched by the test itself, so
// `make guest` is not needed.
func requireLinuxE2E(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: fetches a Debian kernel, starts libvirtd, QEMU and frostd, and -short is set")
	}
	for _, tool := range []string{"qemu-system-x86_64", "libvirtd", "virtlogd", "virsh", "go", "apt-get", "apt-cache", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not found (run `make deps`; the Linux guest comes from Debian packages)", tool)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "setting up libvirtd and the package cache needs root")
	}
}

// fetchLinuxGuest fetches (or finds cached) the kernel and busybox. A
// machine that cannot fetch them (no network, no package lists) skips,
// or fails under FROST_REQUIRE_INTEGRATION.
func fetchLinuxGuest(ctx context.Context, t testing.TB) *linuxguest.Files {
	t.Helper()
	f, err := linuxguest.Fetch(ctx, "", t.Logf)
	if err != nil {
		unavailable(t, "fetching the Linux guest: %v", err)
	}
	t.Logf("Linux guest: %s %s (%.1f MB, %s), %s %s (%.1f MB, %s); fetch took %v",
		f.KernelPackage.Name, f.KernelPackage.Version, float64(f.KernelPackage.Size)/1e6, fetched(f.KernelPackage),
		f.BusyboxPackage.Name, f.BusyboxPackage.Version, float64(f.BusyboxPackage.Size)/1e6, fetched(f.BusyboxPackage),
		f.Took.Round(time.Millisecond))
	return f
}

func fetched(p linuxguest.Package) string {
	if p.Downloaded {
		return "downloaded in " + p.Took.Round(time.Millisecond).String()
	}
	return "cached"
}

// linuxDomain is the Linux guest defined under libvirt, and its serial
// log.
type linuxDomain struct {
	name string
	dom  *libvirt.Domain
	spec *linuxguest.Domain
}

// defineLinuxDomain takes the machine-wide TCG lock for the test's life,
// clears stale test domains (as defineDomain does for mini-NT), and
// defines the guest, shut off.
func defineLinuxDomain(ctx context.Context, t testing.TB, c *libvirt.Conn, f *linuxguest.Files, cfg linuxguest.Config) *linuxDomain {
	t.Helper()
	lockTCGAndClear(ctx, t, c)
	name := fmt.Sprintf("%slinux-%d", testDomainPrefix, os.Getpid())
	spec, err := linuxguest.NewDomain(name, f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spec.Remove() })
	xml, err := spec.XML()
	if err != nil {
		t.Fatal(err)
	}
	return &linuxDomain{name: name, dom: defineXML(ctx, t, c, name, xml), spec: spec}
}

// report is the guest's report so far.
func (d *linuxDomain) report(t testing.TB) *linuxguest.Report {
	t.Helper()
	rep, err := d.spec.Report()
	if err != nil {
		t.Fatalf("%v\nserial log:\n%s", err, d.serialTail())
	}
	return rep
}

// waitReport waits, while the domain lives, until the report satisfies
// ok, and returns it.
func (d *linuxDomain) waitReport(t testing.TB, what string, ok func(*linuxguest.Report) bool) *linuxguest.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestWait)
	defer cancel()
	alive := func() error {
		if st, err := d.dom.State(ctx); err != nil || st == libvirt.StateShutoff || st == libvirt.StateCrashed {
			return fmt.Errorf("domain is %v, %v", st, err)
		}
		return nil
	}
	var rep *linuxguest.Report
	match := func(string) bool {
		r, err := d.spec.Report()
		if err != nil {
			return false
		}
		rep = r
		return ok(r)
	}
	// The matcher looks at the whole report at each new line, so it
	// sees the line that completes it.
	if _, err := minint.WaitSerialFile(ctx, d.spec.SerialPath(), match, alive); err != nil {
		t.Fatalf("waiting for %s: %v\nserial log:\n%s", what, err, d.serialTail())
	}
	return rep
}

// waitMoreWrites waits until the writer has printed more than n lines:
// the guest runs.
func (d *linuxDomain) waitMoreWrites(t testing.TB, n int) *linuxguest.Report {
	t.Helper()
	return d.waitReport(t, fmt.Sprintf("more than %d writer lines", n), func(r *linuxguest.Report) bool { return len(r.Writes) > n })
}

func (d *linuxDomain) serialTail() string {
	b, err := os.ReadFile(d.spec.SerialPath())
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 4<<10 {
		b = append([]byte("..."), b[len(b)-4<<10:]...)
	}
	return string(b)
}

// ramFile is the running domain's guest RAM: libvirt puts it under
// memory_backing_dir (scripts/setup-libvirt.sh sets /dev/shm/libvirt-ram)
// as libvirt/qemu/<id>-<name>/pc.ram, the name cut to its first 20
// characters (libvirt's "short name").
func (d *linuxDomain) ramFile(t testing.TB) string {
	t.Helper()
	short := d.name[:min(len(d.name), 20)]
	m, _ := filepath.Glob(filepath.Join("/dev/shm/libvirt-ram/libvirt/qemu", "*-"+short, "pc.ram"))
	if len(m) != 1 {
		t.Fatalf("the RAM file of %s under /dev/shm/libvirt-ram: found %q, want one", d.name, m)
	}
	return m[0]
}
