package main

import (
	"context"
	"testing"
	"time"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
)

// TestLinuxGuest is issue 14.4: Frost on a guest that is not Windows, a
// stock Debian kernel with a busybox initramfs (integration/guest/linux),
// through the frostd and frostctl binaries only. The guest's serial
// report (its own /proc/kallsyms, its writer's counted lines) is the
// independent account every answer is checked against.
//
// libvirt starts the domain, and frostd attaches to it running, as a
// user's domain; it has no gdbstub until frostd starts one.
func TestLinuxGuest(t *testing.T) {
	requireLinuxE2E(t)
	// Generous: the TCG lock may be held by other test boots first, and
	// a cold package cache downloads ~70 MB.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	g := startLinuxGuest(ctx, t, linuxguest.Config{})
	c, d := g.ctl, g.dom
	ksysWrite := g.symbol(t, "ksys_write")
	must := func(ok bool) {
		if !ok {
			t.FailNow()
		}
	}

	must(t.Run("attach, state, regs", func(t *testing.T) { checkLinuxAttach(t, c, d) }))
	var writerCR3 uint64
	must(t.Run("break on ksys_write, find the writer", func(t *testing.T) {
		writerCR3, _ = findWriterCR3(t, c, d, ksysWrite)
	}))
	t.Run("break filtered to the writer's CR3", func(t *testing.T) {
		checkWriterHits(t, c, d, ksysWrite, writerCR3, 6)
	})
	t.Run("vtop of kernel text: a 2 MiB page", func(t *testing.T) {
		checkKernelVtop(t, c, d, ksysWrite, writerCR3)
	})
	t.Run("what needs Windows says so, once", func(t *testing.T) { checkNeedsWindows(t, c, g.frostd) })
	t.Run("dump equals the RAM file", func(t *testing.T) { checkLinuxDump(t, c, d) })
	must(t.Run("detach", func(t *testing.T) {
		c.must(t, "detach")
		d.waitMoreWrites(t, len(d.report(t).Writes))
	}))
	t.Run("winboot on a guest that is not Windows", func(t *testing.T) { checkLinuxWinboot(ctx, t, c, d) })
}

// linuxGuest is the Linux guest booted by libvirt, with a frostd beside
// it (not attached) and frostctl pointed at both.
type linuxGuest struct {
	dom    *linuxDomain
	ctl    *ctl
	frostd *frostdProc
	// rep is the report once the guest is up: symbols, pids, CPU.
	rep *linuxguest.Report
}

// startLinuxGuest fetches the guest, defines and starts it with libvirt
// (frostd is not involved), waits for its report and first writer line,
// and starts frostd. The writer's period, unless cfg sets one, leaves a
// reader of its buffer most of a period after a hit (see checkWriterHits).
func startLinuxGuest(ctx context.Context, t *testing.T, cfg linuxguest.Config) *linuxGuest {
	t.Helper()
	files := fetchLinuxGuest(ctx, t)
	conn := setupLibvirt(ctx, t)
	frostd, frostctl := buildFrostd(t), buildFrostctlBinary(t)
	if cfg.WriterPeriod == 0 {
		cfg.WriterPeriod = 500 * time.Millisecond
	}
	d := defineLinuxDomain(ctx, t, conn, files, cfg)
	start := time.Now()
	if err := d.dom.Start(ctx, false); err != nil {
		t.Fatal(err)
	}
	rep := d.waitReport(t, "the symbols and the first writer line", func(r *linuxguest.Report) bool { return r.Ready && len(r.Writes) > 0 })
	t.Logf("boot: first writer line %v after libvirt's start (kernel uptime at /init %ss); vCPU pcid=%v, pti=%v, meltdown: %q",
		time.Since(start).Round(time.Millisecond), rep.BootUptime, rep.PCID, rep.PTI, rep.Meltdown)
	fd := startFrostd(t, frostd, t.TempDir(), t.TempDir(), "frostd.log")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
			t.Logf("serial log:\n%s", d.serialTail())
		}
	})
	return &linuxGuest{dom: d, ctl: &ctl{bin: frostctl, sock: fd.sock, vm: d.name, home: t.TempDir()}, frostd: fd, rep: rep}
}

// symbol is a kernel symbol's address from the guest's kallsyms, checked
// to lie in the kernel's text.
func (g *linuxGuest) symbol(t *testing.T, name string) uint64 {
	t.Helper()
	a, err := g.rep.Symbol(name)
	if err != nil {
		t.Fatal(err)
	}
	text, err := g.rep.Symbol("_text")
	if err != nil {
		t.Fatal(err)
	}
	if a < text || a-text > 64<<20 {
		t.Fatalf("%s %#x is not in the kernel text starting at %#x", name, a, text)
	}
	return a
}
