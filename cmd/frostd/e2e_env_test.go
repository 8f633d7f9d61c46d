package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// The end-to-end test drives a real frostd binary against a real libvirtd
// and mini-NT under TCG. Its prerequisites skip the test when missing, or
// fail it under FROST_REQUIRE_INTEGRATION (as `make test` sets), so CI can
// never pass by skipping the boot.

// guestWait bounds each wait on the guest: a deadline for a loaded 2-core
// machine, never a timing assertion.
const guestWait = 3 * time.Minute

// testDomainPrefix is the prefix vmi/, vmi/libvirt and integration/ use:
// a run holding the TCG lock removes every such domain a crashed run left.
const testDomainPrefix = "frost-test-"

func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("FROST_REQUIRE_INTEGRATION is set, but: "+format, args...)
	}
	t.Skipf("skipping: "+format+" (set FROST_REQUIRE_INTEGRATION=1 to make this a failure)", args...)
}

// requireE2E checks the tools, root (libvirtd's setup) and the built
// guest, and returns the guest's build directory.
func requireE2E(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: starts libvirtd, QEMU and frostd, and -short is set")
	}
	for _, tool := range []string{"qemu-system-x86_64", "libvirtd", "virtlogd", "virsh", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not found (run `make deps`)", tool)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "setting up libvirtd needs root")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "integration", "guest", "out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"winload.elf", "ntoskrnl.exe", "hal.dll", "ntkrnlmp.pdb", "csrss.exe", "writer.exe", "swapper.exe"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			unavailable(t, "the guest is not built: %v (run `make guest`)", err)
		}
	}
	return dir
}

// setupLibvirt runs the project's idempotent libvirtd setup and connects.
func setupLibvirt(ctx context.Context, t testing.TB) *libvirt.Conn {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "setup-libvirt.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	c, err := libvirt.Dial(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testDomain is mini-NT defined (shut off) under libvirt, and its serial
// log: the guest's own account of itself.
type testDomain struct {
	name string
	dom  *libvirt.Domain
	spec *minint.Domain
}

// defineDomain takes the machine-wide TCG lock for the test's life (libvirt
// runs this guest under TCG, and two TCG guests on 2 cores starve each
// other), clears stale test domains, and defines mini-NT with a paging
// file configured, so winboot has one to refuse.
func defineDomain(ctx context.Context, t *testing.T, c *libvirt.Conn, guestDir string) *testDomain {
	return defineDomainWith(ctx, t, c, minint.Config{GuestDir: guestDir, WriterPeriodMS: 250})
}

// defineDomainWith is defineDomain with the caller's configuration (another
// kernel build, the writer's period), the paging file filled in.
func defineDomainWith(ctx context.Context, t testing.TB, c *libvirt.Conn, cfg minint.Config) *testDomain {
	t.Helper()
	lockTCGAndClear(ctx, t, c)
	name := fmt.Sprintf("%sfrostd-%d", testDomainPrefix, os.Getpid())
	cfg.PagingFiles = []string{`C:\pagefile.sys`}
	spec, err := minint.NewDomain(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spec.Remove() })
	xml, err := spec.XML()
	if err != nil {
		t.Fatal(err)
	}
	return &testDomain{name: name, dom: defineXML(ctx, t, c, name, xml), spec: spec}
}

// lockTCGAndClear takes the machine-wide TCG lock for the test's life
// (libvirt runs the test guests under TCG, and two TCG guests on 2 cores
// starve each other), then removes every test domain a crashed run left.
func lockTCGAndClear(ctx context.Context, t testing.TB, c *libvirt.Conn) {
	t.Helper()
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })
	doms, err := c.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range doms {
		if strings.HasPrefix(info.Name, testDomainPrefix) {
			t.Logf("removing stale domain %s", info.Name)
			if d, err := c.LookupByUUID(ctx, info.UUID); err == nil {
				removeDomain(ctx, d)
			}
		}
	}
}

// defineXML defines a domain, destroyed and undefined at the test's end.
func defineXML(ctx context.Context, t testing.TB, c *libvirt.Conn, name, xml string) *libvirt.Domain {
	t.Helper()
	dom, err := c.Define(ctx, xml)
	if err != nil {
		t.Fatalf("defining: %v\n%s", err, xml)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := removeDomain(cctx, dom); err != nil {
			t.Errorf("removing domain %s: %v", name, err)
		}
	})
	return dom
}

// removeDomain destroys (if running) and undefines d, if it still exists.
func removeDomain(ctx context.Context, d *libvirt.Domain) error {
	st, err := d.State(ctx)
	if errors.Is(err, libvirt.ErrNoDomain) {
		return nil
	}
	var errs []error
	if err == nil && st != libvirt.StateShutoff {
		errs = append(errs, d.Destroy(ctx))
	}
	errs = append(errs, d.Undefine(ctx))
	return errors.Join(errs...)
}

// report is the serial report so far, complete lines only.
func (d *testDomain) report(t testing.TB) minint.Report {
	t.Helper()
	data, err := os.ReadFile(d.spec.SerialPath())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := minint.ParseReport(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// writes counts writer.exe's `write` lines so far.
func (d *testDomain) writes(t *testing.T) int { return len(d.report(t).All("write")) }

// waitSerial waits for a serial line matching match while the domain lives.
func (d *testDomain) waitSerial(t testing.TB, what string, match minint.Matcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guestWait)
	defer cancel()
	alive := func() error {
		if st, err := d.dom.State(ctx); err != nil || st == libvirt.StateShutoff || st == libvirt.StateCrashed {
			return fmt.Errorf("domain is %v, %v", st, err)
		}
		return nil
	}
	if _, err := minint.WaitSerialFile(ctx, d.spec.SerialPath(), match, alive); err != nil {
		t.Fatalf("waiting for %s: %v\nserial log:\n%s", what, err, d.serialTail())
	}
}

// waitMoreWrites waits until writer.exe has printed more than n `write`
// lines: the guest runs.
func (d *testDomain) waitMoreWrites(t *testing.T, n int) {
	t.Helper()
	seen := 0
	d.waitSerial(t, fmt.Sprintf("more than %d write lines", n), func(line string) bool {
		if e, ok, err := minint.ParseLine(line); ok && err == nil && e.Name == "write" {
			seen++
		}
		return seen > n
	})
}

func (d *testDomain) serialTail() string {
	b, err := os.ReadFile(d.spec.SerialPath())
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 4<<10 {
		b = append([]byte("..."), b[len(b)-4<<10:]...)
	}
	return string(b)
}
