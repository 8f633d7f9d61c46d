package integration

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// testDomainPrefix names every domain these tests define, so a run can
// clear what a crashed run left.
const testDomainPrefix = "frost-test-"

// setupLibvirt runs the project's idempotent libvirt setup (it starts
// virtlogd and libvirtd when they are not running) and connects.
func setupLibvirt(t testing.TB) *libvirt.Libvirt {
	t.Helper()
	requireTools(t, "libvirtd", "virtlogd", "virsh")
	if os.Geteuid() != 0 {
		unavailable(t, "setting up libvirtd needs root")
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "setup-libvirt.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	uri, _ := url.Parse(string(libvirt.QEMUSystem))
	l, err := libvirt.ConnectToURI(uri)
	if err != nil {
		t.Fatalf("connecting to libvirtd: %v", err)
	}
	t.Cleanup(func() { l.Disconnect() })
	return l
}

// removeDomain destroys (if running) and undefines dom.
func removeDomain(l *libvirt.Libvirt, dom libvirt.Domain) error {
	var errs []error
	if state, _, err := l.DomainGetState(dom, 0); err == nil && libvirt.DomainState(state) != libvirt.DomainShutoff {
		errs = append(errs, l.DomainDestroy(dom))
	}
	errs = append(errs, l.DomainUndefine(dom))
	return errors.Join(errs...)
}

// clearStaleDomains removes test domains a crashed run left behind. Only
// call it while holding the TCG lock: a live run would hold it too, so
// every test domain seen then is stale.
func clearStaleDomains(t testing.TB, l *libvirt.Libvirt) {
	t.Helper()
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatalf("listing domains: %v", err)
	}
	for _, d := range doms {
		if strings.HasPrefix(d.Name, testDomainPrefix) {
			t.Logf("removing stale domain %s", d.Name)
			if err := removeDomain(l, d); err != nil {
				t.Errorf("removing stale domain %s: %v", d.Name, err)
			}
		}
	}
}

// TestLibvirtBoot boots the same guest under libvirtd: define, start,
// serial ready, destroy, undefine. libvirt starts QEMU with TCG, so the
// test holds the TCG lock like any other boot.
func TestLibvirtBoot(t *testing.T) {
	out := requireGuest(t)
	l := setupLibvirt(t)

	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })
	clearStaleDomains(t, l)

	name := fmt.Sprintf("%s%d", testDomainPrefix, os.Getpid())
	d, err := minint.NewDomain(name, minint.Config{GuestDir: out, Seed: minint.Seed(13), PagingFiles: []string{pagefile}, LoadOptions: "MININT INRAM"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove() })
	domXML, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}

	dom, err := l.DomainDefineXML(domXML)
	if err != nil {
		t.Fatalf("defining the domain: %v\n%s", err, domXML)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			if err := removeDomain(l, dom); err != nil {
				t.Errorf("cleaning up domain %s: %v", name, err)
			}
		}
	})
	if err := l.DomainCreate(dom); err != nil {
		t.Fatalf("starting the domain: %v", err)
	}

	alive := func() error {
		state, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return fmt.Errorf("domain state: %w", err)
		}
		if libvirt.DomainState(state) != libvirt.DomainRunning {
			return fmt.Errorf("domain %s left the running state (state %d)", name, state)
		}
		return nil
	}
	if _, err := minint.WaitSerialFile(ctx, d.SerialPath(), minint.MatchEvent("ready"), alive); err != nil {
		t.Fatalf("waiting for ready under libvirt: %v\nserial log:\n%s", err, serialTail(d.SerialPath()))
	}
	f, err := os.Open(d.SerialPath())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := minint.ParseReport(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cpu, ok := rep.First("cpu")
	if !ok {
		t.Fatal("no cpu event under libvirt")
	}
	if bits := uintField(t, cpu, "phys-bits"); bits != 46 {
		t.Errorf("guest reports phys-bits=%d under libvirt, want 46 (<maxphysaddr> not applied?)", bits)
	}

	if err := l.DomainDestroy(dom); err != nil {
		t.Errorf("destroying the domain: %v", err)
	}
	if err := l.DomainUndefine(dom); err != nil {
		t.Errorf("undefining the domain: %v", err)
	}
	removed = true
	if _, err := l.DomainLookupByName(name); err == nil {
		t.Errorf("domain %s still defined after undefine", name)
	}
}
