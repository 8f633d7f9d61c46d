package vmi

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
	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/libvirt"
	"github.com/frostvmi/frost/vmi/physmem"
)

// testDomainPrefix is the prefix integration/ and vmi/libvirt use too: a
// run holding the TCG lock removes every such domain a crashed run left.
const testDomainPrefix = "frost-test-"

// setupLibvirt runs the project's idempotent libvirtd setup and connects.
func setupLibvirt(ctx context.Context, t *testing.T) *libvirt.Conn {
	t.Helper()
	for _, tool := range []string{"libvirtd", "virtlogd", "virsh"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not found (run `make deps`)", tool)
		}
	}
	if os.Geteuid() != 0 {
		unavailable(t, "setting up libvirtd needs root")
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "setup-libvirt.sh"))
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

// startDomain boots mini-NT as a libvirt domain (holding the TCG lock,
// after removing test domains a crashed run left) and waits for ready.
func startDomain(ctx context.Context, t *testing.T, c *libvirt.Conn) (*libvirt.Domain, *minint.Domain) {
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
	name := fmt.Sprintf("%svmi-target-%d", testDomainPrefix, os.Getpid())
	spec, err := minint.NewDomain(name, minint.Config{GuestDir: guestDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spec.Remove() })
	xml, err := spec.XML()
	if err != nil {
		t.Fatal(err)
	}
	// vmi/qemu's domain is destroyed on a reset; the reset below needs it
	// to reboot.
	xml = strings.Replace(xml, "<on_reboot>destroy</on_reboot>", "<on_reboot>restart</on_reboot>", 1)
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
	if err := dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	waitDomainSerial(ctx, t, dom, spec, minint.MatchEvent("ready"))
	return dom, spec
}

func waitDomainSerial(ctx context.Context, t *testing.T, dom *libvirt.Domain, spec *minint.Domain, match minint.Matcher) {
	t.Helper()
	alive := func() error {
		if st, err := dom.State(ctx); err != nil || (st != libvirt.StateRunning && st != libvirt.StatePaused) {
			return fmt.Errorf("domain is %v, %v", st, err)
		}
		return nil
	}
	if _, err := minint.WaitSerialFile(ctx, spec.SerialPath(), match, alive); err != nil {
		t.Fatal(err)
	}
}

// domainReport is the domain's serial report so far, complete lines only.
func domainReport(t *testing.T, spec *minint.Domain) minint.Report {
	t.Helper()
	data, err := os.ReadFile(spec.SerialPath())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := minint.ParseReport(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitMoreWrites waits until writer.exe has printed more than n lines.
func waitMoreWrites(ctx context.Context, t *testing.T, dom *libvirt.Domain, spec *minint.Domain, n int) {
	t.Helper()
	seen := 0
	waitDomainSerial(ctx, t, dom, spec, func(line string) bool {
		if e, ok, err := minint.ParseLine(line); ok && err == nil && e.Name == "write" {
			seen++
		}
		return seen > n
	})
}

// TestDomainTarget attaches to a libvirt-managed mini-NT that is already
// running: it reads its registers and memory, detaches, and the serial
// log keeps advancing. A second attach takes a breakpoint on NtWriteFile
// (writer.exe calls it every second), steps over it, and hears the reset
// libvirt reports as REBOOT; after Close the guest runs on.
func TestDomainTarget(t *testing.T) {
	ctx := testCtx(t)
	c := setupLibvirt(ctx, t)
	dom, spec := startDomain(ctx, t, c)

	tg, err := AttachDomain(ctx, c, dom.Name(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	running, stop := tg.Running()
	if running || stop == nil || stop.Registers == nil {
		t.Fatalf("after attach: running=%v stop=%v", running, stop)
	}
	cpus, err := tg.CPUs(ctx)
	if err != nil || len(cpus) != 1 {
		t.Fatalf("vCPUs %v, %v", cpus, err)
	}
	regs, err := tg.Registers(ctx, cpus[0])
	if err != nil {
		t.Fatal(err)
	}
	cr3, _ := regs.Uint("cr3")
	efer, _ := regs.Uint("efer")
	if cr3 == 0 || efer&(1<<10) == 0 {
		t.Errorf("registers of a running 64-bit kernel: cr3 %#x efer %#x", cr3, efer)
	}
	if g := tg.(*guest); g.mem.Kind() != physmem.KindSharedFile {
		t.Errorf("guest RAM through %v, want libvirt's shared RAM file", g.mem)
	}
	page := make([]byte, 4096)
	if err := tg.ReadPhysical(ctx, cr3&^0xfff, page); err != nil || bytes.Equal(page, make([]byte, 4096)) {
		t.Errorf("the PML4 at %#x: %v (all zero: %v)", cr3&^0xfff, err, bytes.Equal(page, make([]byte, 4096)))
	}
	t.Logf("attached: rip %#x cr3 %#x", rip(t, regs), cr3)
	writes := len(domainReport(t, spec).All("write"))
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitMoreWrites(ctx, t, dom, spec, writes)
	if st, err := dom.State(ctx); err != nil || st != libvirt.StateRunning {
		t.Fatalf("after detach the domain is %v, %v", st, err)
	}

	// Again, with a breakpoint and a reset.
	kernel, ok := domainReport(t, spec).First("kernel")
	if !ok {
		t.Fatal("no kernel line")
	}
	base, err := kernel.Uint("base")
	if err != nil {
		t.Fatal(err)
	}
	fn := base + publicRVA(t, "NtWriteFile")
	tg, err = AttachDomain(ctx, c, dom.UUID(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close(context.Background())
	bp := Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := tg.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(ctx, t, tg)
	if e.Kind != EventStop || rip(t, e.Stop.Registers) != fn {
		t.Fatalf("event %v %v, want the breakpoint on NtWriteFile at %#x", e.Kind, e.Stop, fn)
	}
	if _, err := tg.StepOver(ctx, e.Stop.Thread, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.RemoveBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dom.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(ctx, t, tg); e.Kind != EventReset {
		t.Fatalf("event %v (%q) after the reset, want reset", e.Kind, e.Reason)
	} else {
		t.Logf("reset: %q", e.Reason)
	}
	writes = len(domainReport(t, spec).All("write"))
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitMoreWrites(ctx, t, dom, spec, writes)
	if n := len(domainReport(t, spec).All("loader")); n != 2 {
		t.Errorf("%d loader lines, want 2: one boot, one after the reset", n)
	}
}
