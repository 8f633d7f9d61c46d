package nt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/integration/guesttest"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/physmem"
	"github.com/frostvmi/frost/vmi/qmp"
)

// These tests boot the bundled mini-NT under QEMU (TCG), pause it once it
// is ready, and check the kernel model against the guest's own serial
// report. They skip when QEMU or the guest build is missing, unless
// FROST_REQUIRE_INTEGRATION is set.

// guestDeadline bounds each wait on the guest: a deadline, not a timing
// assertion.
const guestDeadline = 3 * time.Minute

// lockDeadline bounds the wait for the TCG lock (one guest at a time on the
// machine).
const lockDeadline = 20 * time.Minute

func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	guesttest.Unavailable(tb, format, args...)
}

func guestOut(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: no guest boots")
	}
	return guesttest.Dir(tb)
}

// live is a paused mini-NT with everything nt needs to read it.
type live struct {
	m    *minint.Machine
	rep  minint.Report
	regs *gdbstub.Registers
	gdb  *gdbstub.Client
	mon  *qmp.Client
	mem  *physmem.Memory
	vol  *disk.Volume
	k    *Opened
}

// bootLive boots cfg, waits for ready, pauses the guest, attaches the
// gdbstub (registers) and physmem (RAM), and opens the kernel from the
// symbol directory symDir.
func bootLive(t *testing.T, cfg minint.Config, symDir string) *live {
	t.Helper()
	// Start waits for the machine-wide TCG lock while other packages'
	// guests run, which can take long; the boot itself then has
	// guestDeadline.
	lockCtx, cancelLock := context.WithTimeout(context.Background(), lockDeadline)
	defer cancelLock()
	m, err := minint.Start(lockCtx, cfg)
	if err != nil {
		t.Fatalf("starting mini-NT: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	defer cancel()
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stopping mini-NT: %v", err)
		}
	})
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}
	if err := m.Pause(ctx); err != nil {
		t.Fatalf("pausing: %v", err)
	}
	l := &live{m: m}
	if l.rep, err = m.Report(); err != nil {
		t.Fatal(err)
	}

	caps, err := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := m.GDBAddr()
	c, err := gdbstub.Dial(ctx, network, addr, gdbstub.Config{Capabilities: caps})
	if err != nil {
		t.Fatalf("dialing the gdbstub: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	stop, err := c.Attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stop.Registers == nil {
		t.Fatalf("stop without registers: %v", stop.RegistersErr)
	}
	l.regs = stop.Registers
	l.gdb = c

	if l.mon, err = qmp.Dial(ctx, m.TargetQMPSocket()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.mon.Close() })
	gm, err := physmem.MapFromMonitor(ctx, l.mon.Monitor)
	if err != nil {
		t.Fatal(err)
	}
	if l.mem, err = physmem.OpenFile(m.RAMPath(), gm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.mem.Close() })
	// QEMU drained its disk I/O when it paused, so the image holds what
	// the guest wrote to its paging files.
	if l.vol, err = disk.Open(m.DiskPath()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.vol.Close() })

	st, err := store.New(symDir, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Offline = true
	began := time.Now()
	l.k, err = Open(ctx, Config{Physical: l.mem, Registers: l.regs, Symbols: st, Pagefiles: l.pagefiles})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Logf("kernel %v at %#x from %s, DTB %#x: found and loaded in %v", l.k.Image.Image.ID, l.k.Base(), l.k.SymbolFile, l.k.DTB(), time.Since(began).Round(time.Millisecond))
	return l
}

// pagefiles serves a paging file from its extent in the disk image, by
// the volume-relative part of its name (\??\C:\pagefile.sys).
func (l *live) pagefiles(pf PagingFile) (io.ReaderAt, error) {
	name := pf.Name
	if i := strings.Index(name, `:\`); i >= 0 {
		name = name[i+1:]
	}
	return l.vol.ReadExtent(name)
}

func (l *live) uintField(t *testing.T, e minint.Event, key string) uint64 {
	t.Helper()
	v, err := e.Uint(key)
	if err != nil {
		t.Fatalf("%s %s: %v", e.Name, key, err)
	}
	return v
}

const pagefileName = `C:\pagefile.sys`

// TestIntegration boots mini-NT and its reorder build, whose structures
// and globals all sit elsewhere: nt must read both the same.
func TestIntegration(t *testing.T) {
	out := guestOut(t)
	for _, tc := range []struct {
		name, kernel, symDir string
		seed                 uint64
	}{
		{"standard", "", out, 31},
		{"reorder", filepath.Join(out, "reorder", "ntoskrnl.exe"), filepath.Join(out, "reorder"), 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := bootLive(t, minint.Config{GuestDir: out, Kernel: tc.kernel, Seed: minint.Seed(tc.seed), PagingFiles: []string{pagefileName}}, tc.symDir)
			t.Run("kernel", l.checkKernel)
			t.Run("processes", l.checkProcesses)
			t.Run("vads", l.checkVADs)
			t.Run("pagingfiles", l.checkPagingFiles)
			t.Run("current", l.checkCurrent)
			t.Run("drivers", l.checkDrivers)
			t.Run("handles", l.checkHandles)
			t.Run("NtWriteFile", l.checkNtWriteFile) // last: it runs the guest
		})
	}
}

func (l *live) checkKernel(t *testing.T) {
	ev, ok := l.rep.First("kernel")
	if !ok {
		t.Fatal("no kernel event")
	}
	if base := l.uintField(t, ev, "base"); l.k.Base() != base {
		t.Errorf("kernel base %#x, the guest says %#x", l.k.Base(), base)
	}
	if guid := ev.Get("guid"); l.k.Image.Image.ID.GUID.String() != guid {
		t.Errorf("GUID %v, the guest says %s", l.k.Image.Image.ID.GUID, guid)
	}
	// The start from the IDT finds the same image.
	regs, err := l.mon.Registers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cr3, _ := l.regs.Uint("cr3")
	hw := HardwareMemory{Physical: l.mem, CR3: cr3}
	h, err := IDTHandler(hw, regs[0].IDT.Base, 14)
	if err != nil {
		t.Fatal(err)
	}
	img, err := FindKernel(hw, h)
	if err != nil || img.Base != l.k.Base() {
		t.Errorf("from the page-fault handler %s: %#x, %v", l.k.Describe(h), img.Base, err)
	}
	t.Logf("IDT at %#x, vector 14 → %s", regs[0].IDT.Base, l.k.Describe(h))
}

func (l *live) checkProcesses(t *testing.T) {
	procs, err := l.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]Process{}
	for _, p := range procs {
		got[p.PID] = p
		t.Logf("%v", p)
	}
	events := l.rep.All("process")
	if len(events) != len(procs) {
		t.Errorf("%d processes on PsActiveProcessHead, the guest started %d", len(procs), len(events))
	}
	for _, e := range events {
		pid := l.uintField(t, e, "pid")
		p, ok := got[pid]
		switch {
		case !ok:
			t.Errorf("the guest's process %s (pid %d) is missing", e.Get("name"), pid)
		case p.Name != e.Get("name") || p.DTB != l.uintField(t, e, "dtb") || p.ParentPID != l.uintField(t, e, "parent"):
			t.Errorf("pid %d: %v parent %d; the guest says %s dtb %s parent %s", pid, p, p.ParentPID, e.Get("name"), e.Get("dtb"), e.Get("parent"))
		}
	}
	for _, name := range []string{"System", "smss.exe", "csrss.exe", "writer.exe", "swapper.exe"} {
		if _, err := l.k.ProcessByName(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	sw := l.swapper(t)
	if sw.DTB != l.swapperDTB(t) {
		t.Errorf("swapper's DTB %#x, the guest says %#x", sw.DTB, l.swapperDTB(t))
	}
	sys, _ := l.k.ProcessByPID(4)
	if l.k.DTB() != sys.DTB {
		t.Errorf("kernel DTB %#x, System's %#x", l.k.DTB(), sys.DTB)
	}
}

func (l *live) swapper(t *testing.T) Process {
	t.Helper()
	p, err := l.k.ProcessByName("swapper.exe")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (l *live) swapperDTB(t *testing.T) uint64 {
	t.Helper()
	for _, e := range l.rep.All("process") {
		if e.Get("name") == "swapper.exe" {
			return l.uintField(t, e, "dtb")
		}
	}
	t.Fatal("the guest reported no swapper.exe process")
	return 0
}

// userVADs checks the VADs of swapper's user-mode environment against
// the report and returns how many there are.
func (l *live) userVADs(t *testing.T, vads []VAD) int {
	t.Helper()
	users, err := l.rep.UserProcesses()
	if err != nil {
		t.Fatal(err)
	}
	up := users[l.swapper(t).PID]
	if up == nil {
		t.Fatal("the report has no user-mode environment for swapper")
	}
	containing := func(va uint64) (VAD, bool) {
		for _, v := range vads {
			if v.Start <= va && va < v.End {
				return v, true
			}
		}
		return VAD{}, false
	}
	seen := map[uint64]bool{}
	check := func(what string, va uint64, private bool) {
		v, ok := containing(va)
		if !ok || v.Private != private {
			t.Errorf("%s at %#x: VAD %v (found %v), want private %v", what, va, v, ok, private)
			return
		}
		seen[v.Start] = true
	}
	check("process parameters", up.Params, true)
	check("loader data", up.Ldr, true)
	for _, teb := range up.TEBs {
		check("TEB", teb.Address, true)
	}
	for _, m := range up.Modules {
		if m.Base == up.ImageBase {
			continue // the exe: counted by the caller
		}
		check(m.Name, m.Base, false)
		if v, ok := containing(m.Base); ok && (v.Start != m.Base || v.End-v.Start != (m.Size+0xfff)&^0xfff) {
			t.Errorf("%s: view %#x-%#x, want %#x size %#x", m.Name, v.Start, v.End, m.Base, m.Size)
		}
	}
	return len(seen)
}

// checkVADs compares swapper's VAD tree with what swapper.exe made
// (user/swapper.c, bases from its report): its image, stack and PEB, the
// committed, pattern and decommit regions, 40 one-page regions and the
// image view; then reads the pattern through the translator with the
// kernel as VAD resolver and the paging file served from the disk image.
func (l *live) checkVADs(t *testing.T) {
	ev, ok := l.rep.First("swapper")
	if !ok {
		t.Fatal("no swapper event")
	}
	pages := l.uintField(t, ev, "pages")
	type want struct {
		start, size uint64
		private     bool
	}
	wants := []want{
		{l.uintField(t, ev, "committed-base"), 64 << 12, true},
		{l.uintField(t, ev, "pattern-base"), (pages + 64) << 12, true},
		{l.uintField(t, ev, "decommit-base") - 16<<12, 64 << 12, true},
		{l.uintField(t, ev, "image-view"), (l.uintField(t, ev, "image-size") + 0xfff) &^ 0xfff, false},
		{0x10000000, 0x10000, true}, // the stack (ntos/ps.c)
		{0x7ffdf000, 0x1000, true},  // the PEB
	}
	for i := uint64(0); i < 40; i++ {
		wants = append(wants, want{0x60000000 + i*0x10000, 0x1000, true})
	}
	vads, err := l.k.VADs(l.swapper(t))
	if err != nil {
		t.Fatal(err)
	}
	byStart := map[uint64]VAD{}
	for _, v := range vads {
		byStart[v.Start] = v
	}
	// The user-mode environment the kernel built (the report's peb,
	// ldr-module and teb events): process parameters, the loader's heap
	// and the TEBs, private; a view of each DLL, not private.
	extra := l.userVADs(t, vads)
	// One more: the image of swapper.exe itself, wherever it is linked.
	if len(vads) != len(wants)+extra+1 {
		t.Errorf("%d VADs, want %d: %v", len(vads), len(wants)+extra+1, vads)
	}
	for _, w := range wants {
		v, ok := byStart[w.start]
		if !ok || v.End-v.Start != w.size || v.Private != w.private {
			t.Errorf("VAD at %#x: %v (found %v), want size %#x private %v", w.start, v, ok, w.size, w.private)
		}
	}
	view := byStart[wants[3].start]
	if view.FirstPrototypePte == 0 || view.Subsection == 0 {
		t.Errorf("image view without prototype PTEs: %+v", view)
	}

	// The pattern, whole pages, through translate.
	base := wants[1].start
	buf := make([]byte, pages<<12)
	res := l.k.Translator.ReadVirtual(l.swapper(t).DTB, base, buf)
	states := map[string]int{}
	bad := 0
	for _, pg := range res.Pages() {
		states[pg.Location.State.String()]++
		if pg.Err != nil {
			bad++
			if bad < 4 {
				t.Errorf("pattern page %#x: %v", pg.VA, pg.Err)
			}
			continue
		}
		i := (pg.VA - base) >> 12
		if got := le64(buf[pg.Off:]); got != 0x46524F5354000000|i {
			t.Errorf("pattern page %d: qword 0 = %#x", i, got)
		}
	}
	t.Logf("swapper's %d pattern pages by state: %v (%d unread)", pages, states, bad)

	// Zero PTEs are decided by the VAD: translate asks the kernel.
	dtb := l.swapper(t).DTB
	for _, c := range []struct {
		va   uint64
		want translate.State
	}{
		{wants[0].start, translate.StateDemandZero},             // committed, never touched
		{wants[1].start + pages<<12, translate.StateDemandZero}, // committed inside the reservation
		{wants[2].start + 16<<12, translate.StateDecommitted},
		{0x70000000, translate.StateNotMapped}, // no VAD
	} {
		loc, err := l.k.Translator.Translate(dtb, c.va)
		if err != nil || loc.State != c.want {
			t.Errorf("%#x: %v, %v; want %v", c.va, loc, err, c.want)
		}
	}
	// The image view: trimmed pages carry the "ask the VAD" marker, so
	// every page needs the view's FirstPrototypePte from the kernel.
	runs, err := l.k.Translator.VadMap(dtb, view.Start, view.End)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Location.State == translate.StateUnknown || r.Location.State == translate.StateNotMapped {
			t.Errorf("image view %v", r)
		}
	}
	t.Logf("image view %#x-%#x: %d runs, the first %v", view.Start, view.End, len(runs), runs[0])
}

func (l *live) checkPagingFiles(t *testing.T) {
	pfs, err := l.k.PagingFiles()
	if err != nil {
		t.Fatal(err)
	}
	events := l.rep.All("pagingfile")
	if len(pfs) != len(events) || len(events) == 0 {
		t.Fatalf("paging files %+v, the guest registered %d", pfs, len(events))
	}
	for i, e := range events {
		pf := pfs[i]
		if !strings.EqualFold(pf.Name, e.Get("name")) || pf.Number != l.uintField(t, e, "number") || pf.VirtualStore != (l.uintField(t, e, "virtual-store") != 0) {
			t.Errorf("paging file %d: %+v; the guest says %v", i, pf, e.Fields)
		}
		t.Logf("paging file %d: %s, %d pages (min %d, max %d)", pf.Number, pf.Name, pf.Size, pf.MinimumSize, pf.MaximumSize)
	}
}

// checkCurrent: the stop is somewhere in the guest; KPCR's Self checks
// out, and the current thread's owner is on the process list.
func (l *live) checkCurrent(t *testing.T) {
	c, err := l.k.Current(l.regs)
	if err != nil {
		t.Fatal(err)
	}
	rip, _ := l.regs.Uint("rip")
	t.Logf("stopped at %s: KPCR %#x, thread %v, process %s, address space %s", l.k.Describe(rip), c.KPCR, c.Thread, c.Process.Name, c.AddressSpace.Name)
	if c.Process.Name == "" || c.Thread.ETHREAD == 0 {
		t.Errorf("current %+v", c)
	}
	if _, err := l.k.ProcessByPID(c.Process.PID); err != nil && c.Process.PID != 0 {
		t.Errorf("the current process %v is not on the list: %v", c.Process, err)
	}
	threads, err := l.k.Threads(c.Process)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, th := range threads {
		found = found || th.ETHREAD == c.Thread.ETHREAD
	}
	if !found {
		t.Errorf("the current thread %v is not among its process's threads %v", c.Thread, threads)
	}
}

func (l *live) checkDrivers(t *testing.T) {
	mods, err := l.k.Drivers()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drivers: %v", mods)
	if len(mods) < 2 || mods[0].Name != "ntoskrnl.exe" || mods[0].Base != l.k.Base() || mods[1].Name != "hal.dll" {
		t.Fatalf("drivers %v: want ntoskrnl.exe at %#x, then hal.dll", mods, l.k.Base())
	}
	ev, _ := l.rep.First("loader")
	if hal := l.uintField(t, ev, "hal-base"); mods[1].Base != hal {
		t.Errorf("hal.dll at %#x, the loader says %#x", mods[1].Base, hal)
	}
	if m, ok, err := l.k.DriverAt(l.k.Base() + 0x1000); err != nil || !ok || m.Name != "ntoskrnl.exe" {
		t.Errorf("DriverAt(kernel base + 0x1000) = %v, %v, %v", m, ok, err)
	}
}

// checkHandles: writer.exe's handles are its 300 events and its log file,
// at the value the guest printed; the kernel's table holds the paging
// file.
func (l *live) checkHandles(t *testing.T) {
	w, err := l.k.ProcessByName("writer.exe")
	if err != nil {
		t.Fatal(err)
	}
	hs, err := l.k.Handles(w)
	if err != nil {
		t.Fatal(err)
	}
	open, ok := l.rep.First("writer-open")
	if !ok {
		t.Fatal("no writer-open event")
	}
	want := l.uintField(t, open, "handle")
	types := map[string]int{}
	var file *Handle
	for i, h := range hs {
		types[h.Type]++
		if h.Value == want {
			file = &hs[i]
		}
	}
	t.Logf("writer.exe: %d handles by type %v", len(hs), types)
	ev, _ := l.rep.First("handles")
	if types["Event"] != int(l.uintField(t, ev, "count")) {
		t.Errorf("%d Event handles, the guest opened %s", types["Event"], ev.Get("count"))
	}
	if file == nil || file.Type != "File" || file.File == nil || file.Name != `\frost\log.txt` {
		t.Fatalf("handle %#x: %+v, want the File \\frost\\log.txt", want, file)
	}
	t.Logf("handle %v (device %#x, driver %s)", file, file.File.Device, file.File.DriverName)
	if file.File.Device == 0 || file.File.DriverName != `\Driver\atapi` {
		t.Errorf("log.txt's device %#x driver %q", file.File.Device, file.File.DriverName)
	}
	got, err := l.k.LookupHandle(w, want)
	if err != nil || got.Body != file.Body {
		t.Errorf("LookupHandle(%#x) = %v, %v", want, got, err)
	}
	if _, err := l.k.LookupHandle(w, 0x7ff0); !errors.Is(err, ErrNoHandle) {
		t.Errorf("LookupHandle of an unused value: %v, want ErrNoHandle", err)
	}

	kh, err := l.k.KernelHandles()
	if err != nil {
		t.Fatal(err)
	}
	pagefile := false
	for _, h := range kh {
		pagefile = pagefile || (h.Type == "File" && strings.EqualFold(h.Name, `\pagefile.sys`))
	}
	if !pagefile {
		t.Errorf("kernel handles %v: no File \\pagefile.sys", kh)
	}
}

// checkNtWriteFile breaks on nt!NtWriteFile and reads writer.exe's call:
// the caller, its file handle and name, the length and the buffer, against
// the message the guest's writer sends next.
func (l *live) checkNtWriteFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), guestDeadline)
	defer cancel()
	fn, err := l.k.Address("NtWriteFile")
	if err != nil {
		t.Fatal(err)
	}
	bp := gdbstub.Breakpoint{Kind: gdbstub.Software, Addr: fn}
	if err := l.gdb.InsertBreakpoint(ctx, bp); err != nil {
		t.Fatal(err)
	}
	defer l.gdb.RemoveBreakpoint(ctx, bp)
	// csrss.exe calls NtWriteFile too (once a second, through the same
	// ntdll): its calls are stepped over until writer.exe's comes.
	var regs *gdbstub.Registers
	var cur Current
	for calls := 0; ; calls++ {
		if err := l.gdb.Continue(ctx); err != nil {
			t.Fatal(err)
		}
		stop, err := l.gdb.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stop.Registers == nil {
			t.Fatalf("stop without registers: %v", stop.RegistersErr)
		}
		regs = stop.Registers
		if rip, _ := regs.Uint("rip"); rip != fn {
			t.Fatalf("stopped at %s, not at nt!NtWriteFile", l.k.Describe(rip))
		}
		l.k.Translator.Stopped()
		if cur, err = l.k.Current(regs); err != nil {
			t.Fatal(err)
		}
		if cur.Process.Name == "writer.exe" || calls == 20 {
			break
		}
		if _, err := l.gdb.StepOver(ctx, stop.Thread, bp); err != nil {
			t.Fatal(err)
		}
		l.k.Translator.Resumed()
	}
	if cur.Process.Name != "writer.exe" || cur.Attached() {
		t.Fatalf("NtWriteFile called by %v (address space %v)", cur.Process, cur.AddressSpace)
	}
	threads, err := l.k.Threads(cur.Process)
	if err != nil {
		t.Fatal(err)
	}
	if len(threads) != 1 || threads[0].ETHREAD != cur.Thread.ETHREAD || threads[0].TID != cur.Thread.TID || threads[0].PID != cur.Process.PID {
		t.Errorf("writer.exe's threads %v; the caller is %v", threads, cur.Thread)
	}
	tcb, _ := l.k.lay.offset("_ETHREAD.Tcb")
	if kt, err := l.k.CurrentThread(regs); err != nil || kt != cur.Thread.ETHREAD+tcb {
		t.Errorf("CurrentThread = %#x, %v; want the caller's KTHREAD %#x", kt, err, cur.Thread.ETHREAD+tcb)
	}
	a, err := l.k.NtWriteFile(regs)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := l.m.Report()
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("frost-writer: message %d from writer.exe\r\n", len(rep.All("write"))+1)
	open, _ := rep.First("writer-open")
	if a.FileHandle != l.uintField(t, open, "handle") || a.Length != uint32(len(msg)) || a.ByteOffset != 0 {
		t.Errorf("NtWriteFile%+v: want handle %s, length %d, no ByteOffset", a, open.Get("handle"), len(msg))
	}
	buf := make([]byte, a.Length)
	if err := l.k.ReadArgument(regs, a.Buffer, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Errorf("buffer %q, want %q", buf, msg)
	}
	h, err := l.k.LookupHandle(cur.Process, a.FileHandle)
	if err != nil || h.File == nil || h.Name != `\frost\log.txt` {
		t.Errorf("the written file: %v, %v", h, err)
	}
	t.Logf("%s tid %d: NtWriteFile(%v) %q", cur.Process.Name, cur.Thread.TID, h, buf)
}
