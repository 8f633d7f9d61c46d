package main

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
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
	dom *linuxDomain
	ctl *ctl
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
	return &linuxGuest{dom: d, ctl: &ctl{bin: frostctl, sock: fd.sock, vm: d.name, home: t.TempDir()}, rep: rep}
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

// checkLinuxAttach: frostd attaches the running domain (starting its
// gdbstub), reads its state and registers, and the guest runs on.
func checkLinuxAttach(t *testing.T, c *ctl, d *linuxDomain) {
	var att pb.AttachResponse
	c.json(t, &att, "attach", d.name)
	if v := att.GetVm(); v.GetDomain().GetName() != d.name || !v.GetRunning() || v.GetMemoryBackend() != "shared-file" {
		t.Errorf("attach: %v", v)
	}
	var st pb.GetVMResponse
	c.json(t, &st, "state")
	if v := st.GetVm(); v == nil || !v.GetRunning() || v.GetKernel() != nil {
		t.Errorf("state: %v", &st)
	}
	// Registers are read at a stop: pause, read, step one instruction,
	// resume.
	var p pb.PauseResponse
	c.json(t, &p, "pause")
	if !p.GetWasRunning() {
		t.Errorf("pause: the guest was not running: %v", &p)
	}
	var regs pb.GetRegistersResponse
	c.json(t, &regs, "regs")
	if len(regs.GetCpus()) != 1 {
		t.Fatalf("regs: %d vCPUs, want 1", len(regs.GetCpus()))
	}
	r := registers(regs.GetCpus()[0])
	if r["cr3"] == 0 || r["rip"] == 0 || r["cr0"]&(1<<31) == 0 {
		t.Errorf("regs: cr3 %#x rip %#x cr0 %#x: want paging on", r["cr3"], r["rip"], r["cr0"])
	}
	var step pb.StepResponse
	c.json(t, &step, "step")
	if got := registers(step.GetStop().GetRegisters())["rip"]; step.GetStop().GetRegisters() != nil && got == r["rip"] {
		t.Errorf("step: rip stayed at %#x", got)
	}
	c.must(t, "resume")
	d.waitMoreWrites(t, len(d.report(t).Writes))
}

// registers maps a register file by name.
func registers(r *pb.Registers) map[string]uint64 {
	m := map[string]uint64{}
	for _, x := range r.GetRegisters() {
		m[x.GetName()] = x.GetValue()
	}
	return m
}

// hitOf decodes one --json line of break or events; nil for the other
// messages (subscribed, VM events).
func hitOf(t *testing.T, line string) *pb.BreakpointHit {
	t.Helper()
	var ev pb.SubscribeResponse
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(line), &ev); err != nil {
		t.Fatalf("decoding a hit: %v\n%s", err, line)
	}
	if e := ev.GetVmEvent(); e != nil {
		t.Logf("VM event: %v", e)
	}
	return ev.GetHit()
}

// readVirtual reads length bytes at va in the address space cr3 names.
func readVirtual(t *testing.T, c *ctl, cr3, va, length uint64) []byte {
	t.Helper()
	var rd pb.ReadVirtualResponse
	c.json(t, &rd, "read", "--dtb", hex(cr3), hex(va), strconv.FormatUint(length, 10))
	for _, p := range rd.GetPages() {
		if !p.GetServed() {
			t.Fatalf("read --dtb %#x %#x %d: piece at %#x not served: %s", cr3, va, length, p.GetAddress(), p.GetReason())
		}
	}
	if uint64(len(rd.GetData())) != length {
		t.Fatalf("read --dtb %#x %#x %d: %d bytes", cr3, va, length, len(rd.GetData()))
	}
	return rd.GetData()
}

func hex(v uint64) string { return fmt.Sprintf("0x%x", v) }

// writeLen is the length of every writer line: its write(2)'s RDX.
var writeLen = uint64(len(linuxguest.WriteLine(1)))

// findWriterCR3 sets a persistent breakpoint on ksys_write (a raw kernel
// address, no filter), streams every breakpoint's hits with events, and
// reads the user buffer (RSI, RDX bytes) of hits through the hit's own
// CR3 until one holds a writer line the guest printed. It goes on until
// it has also seen another address space write (the noise process), so
// that the filter checked next has something to filter. It returns the
// writer's CR3 and the address of its write buffer.
func findWriterCR3(t *testing.T, c *ctl, d *linuxDomain, ksysWrite uint64) (cr3, buffer uint64) {
	var set pb.SetBreakpointResponse
	c.json(t, &set, "break", "--persist", hex(ksysWrite))
	bp := set.GetBreakpoint()
	if bp.GetAddress() != ksysWrite {
		t.Fatalf("break --persist %#x: %v", ksysWrite, bp)
	}
	defer c.must(t, "clear", strconv.FormatUint(bp.GetId(), 10))
	ev := c.stream(t, "events", "--json")
	defer ev.stop(t)
	var writer, writerBuf uint64
	others := map[uint64]bool{}
	deadline := time.Now().Add(guestWait)
	for hits := 0; writer == 0 || len(others) == 0; {
		line, ok := ev.next(time.Until(deadline))
		if !ok {
			t.Fatalf("events ended or went quiet after %d hits (writer CR3 %#x, other CR3s %v)\nstderr:\n%s", hits, writer, others, ev.stderr.String())
		}
		h := hitOf(t, line)
		if h == nil {
			continue
		}
		hits++
		if h.GetBreakpointId() != bp.GetId() || h.GetAddress() != ksysWrite {
			t.Fatalf("hit of breakpoint %d at %#x, want %d at %#x", h.GetBreakpointId(), h.GetAddress(), bp.GetId(), ksysWrite)
		}
		r := registers(h.GetRegisters())
		if r["rip"] != ksysWrite {
			t.Errorf("hit #%d: rip %#x, want ksys_write %#x", h.GetSequence(), r["rip"], ksysWrite)
		}
		cr3 := r["cr3"]
		if cr3 == writer {
			continue
		}
		if writer != 0 || r["rdx"] != writeLen {
			others[cr3] = true
			continue
		}
		buf := readVirtual(t, c, cr3, r["rsi"], r["rdx"])
		if _, ok := linuxguest.ParseWrite(string(buf)); !ok {
			others[cr3] = true
			continue
		}
		d.waitReport(t, fmt.Sprintf("the line %q in the serial log", buf), func(r *linuxguest.Report) bool { return r.Wrote(string(buf)) })
		writer, writerBuf = cr3, r["rsi"]
		t.Logf("hit #%d: pid %d's write(%d, %#x, %d) = %q: the writer's CR3 is %#x", h.GetSequence(), d.report(t).WriterPID, r["rdi"], r["rsi"], r["rdx"], buf, cr3)
	}
	t.Logf("other address spaces that wrote: %d", len(others))
	return writer, writerBuf
}

// checkWriterHits streams a breakpoint on ksys_write filtered to the
// writer's CR3 and checks n hits: each in that address space, each
// write(2)'s buffer one whole writer line the guest printed, and the
// lines in order with none left out (when the stream says it dropped no
// hit).
//
// One line may show at two hits in a row. It was seen once: two hits
// 25 ms apart, both reading line 10, and the serial log holding line 10
// once (it would not parse otherwise): one printf, two entries into
// ksys_write with the same buffer, most likely a write(2) that a signal
// cut short before it copied a byte, which the kernel restarts. So the
// counters may stay or rise by one from hit to hit, never more.
//
// The buffer is read after the hit, with the guest running on: it is the
// writer's stdio buffer, which holds the line until the next one
// overwrites it a period later. Every line has the same length, so a read
// that came a period late would still read a whole line, a later one: the
// counters would then rise by two at that hit, which the check catches.
func checkWriterHits(t *testing.T, c *ctl, d *linuxDomain, ksysWrite, cr3 uint64, n int) {
	s := c.stream(t, "break", "--json", "--dtb", hex(cr3), hex(ksysWrite))
	var counters []uint64
	var dropped uint64
	deadline := time.Now().Add(guestWait)
	for len(counters) < n {
		line, ok := s.next(time.Until(deadline))
		if !ok {
			t.Fatalf("break --dtb ended or went quiet after %d hits\nstderr:\n%s", len(counters), s.stderr.String())
		}
		h := hitOf(t, line)
		if h == nil {
			continue
		}
		r := registers(h.GetRegisters())
		if r["cr3"] != cr3 || r["rip"] != ksysWrite || r["rdx"] != writeLen {
			t.Fatalf("hit #%d: cr3 %#x rip %#x rdx %d; want cr3 %#x rip %#x rdx %d", h.GetSequence(), r["cr3"], r["rip"], r["rdx"], cr3, ksysWrite, writeLen)
		}
		buf := readVirtual(t, c, cr3, r["rsi"], r["rdx"])
		k, ok := linuxguest.ParseWrite(string(buf))
		if !ok || string(buf) != linuxguest.WriteLine(k) {
			t.Fatalf("hit #%d: the buffer at %#x is %q, not a writer line", h.GetSequence(), r["rsi"], buf)
		}
		t.Logf("hit #%d at %s: write(%d, %#x, %d) of line %d", h.GetSequence(), h.GetTime().AsTime().Format("15:04:05.000"), r["rdi"], r["rsi"], r["rdx"], k)
		dropped += h.GetDropped()
		counters = append(counters, k)
	}
	s.stop(t)
	t.Logf("writer lines at %d filtered hits: %v (dropped %d)", n, counters, dropped)
	last := counters[len(counters)-1]
	rep := d.waitReport(t, fmt.Sprintf("writer line %d", last), func(r *linuxguest.Report) bool { return uint64(len(r.Writes)) >= last })
	for i, k := range counters {
		if !rep.Wrote(linuxguest.WriteLine(k)) {
			t.Errorf("line %d read at a hit is not in the serial log", k)
		}
		if i == 0 {
			continue
		}
		switch step := int64(k) - int64(counters[i-1]); {
		case step < 0:
			t.Errorf("counters %v go back", counters)
		case step > 1 && dropped == 0:
			t.Errorf("counters %v skip a line, yet no hit was reported dropped (or a buffer was read a period late)", counters)
		}
	}
	if counters[0] == last {
		t.Errorf("%d hits all read line %d", n, last)
	}
	if len(rep.Garbled) > 0 {
		t.Logf("garbled writer lines in the serial log: %q", rep.Garbled)
	}
}

// startKernelMap is where x86-64 Linux maps its image (__START_KERNEL_map):
// the kernel text's virtual address minus it is its physical address plus
// phys_base, which is 0 when the kernel runs where it was loaded.
const startKernelMap = 0xffffffff80000000

// checkKernelVtop translates ksys_write through the writer's CR3: the
// kernel maps its text with 2 MiB pages, and the physical address found
// holds the bytes a virtual read gets, in Frost's physical reads and in
// the RAM file itself.
func checkKernelVtop(t *testing.T, c *ctl, d *linuxDomain, ksysWrite, cr3 uint64) {
	var tr pb.TranslateResponse
	c.json(t, &tr, "vtop", "--dtb", hex(cr3), hex(ksysWrite))
	pv := tr.GetProvenance()
	t.Logf("vtop %#x:\n%s", ksysWrite, pv.GetText())
	loc := pv.GetLocation()
	if loc.GetState() != pb.PageState_PAGE_STATE_VALID || loc.GetPageSize() != 2<<20 || pv.GetError() != "" {
		t.Fatalf("vtop %#x: %v (error %q), want a valid 2 MiB page", ksysWrite, loc, pv.GetError())
	}
	levels := map[pb.TranslationLevel]bool{}
	for _, s := range pv.GetSteps() {
		levels[s.GetLevel()] = true
	}
	if !levels[pb.TranslationLevel_TRANSLATION_LEVEL_PDE] || levels[pb.TranslationLevel_TRANSLATION_LEVEL_PTE] {
		t.Errorf("vtop %#x: steps %v, want the walk to end at the PDE", ksysWrite, levels)
	}
	pa := loc.GetAddress()
	if pa&(2<<20-1) != ksysWrite&(2<<20-1) {
		t.Errorf("vtop %#x -> %#x: the offset in the 2 MiB page changed", ksysWrite, pa)
	}
	t.Logf("ksys_write: VA %#x -> PA %#x (VA - __START_KERNEL_map = %#x)", ksysWrite, pa, ksysWrite-startKernelMap)
	const n = 64
	virt := readVirtual(t, c, cr3, ksysWrite, n)
	var phys pb.ReadPhysicalResponse
	c.json(t, &phys, "read", "--physical", hex(pa), strconv.Itoa(n))
	if !bytes.Equal(phys.GetData(), virt) {
		t.Errorf("at ksys_write, read --dtb gives % x\nread --physical %#x gives % x", virt, pa, phys.GetData())
	}
	ram, err := os.Open(d.ramFile(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ram.Close()
	raw := make([]byte, n)
	// Low RAM: the file offset is the guest-physical address.
	if _, err := ram.ReadAt(raw, int64(pa)); err != nil || !bytes.Equal(raw, virt) {
		t.Errorf("the RAM file at %#x holds % x (%v), read --dtb gave % x", pa, raw, err, virt)
	}
}

// checkLinuxDump pauses the guest, dumps it to an ELF core with frostctl
// and compares every RAM range of the core with the RAM file, page by
// page, while the guest stays stopped; then resumes it.
func checkLinuxDump(t *testing.T, c *ctl, d *linuxDomain) {
	c.must(t, "pause")
	resumed := false
	defer func() {
		if !resumed {
			c.run(t, "resume")
		}
	}()
	core := filepath.Join(t.TempDir(), "linux.core")
	start := time.Now()
	out := c.must(t, "dump", "-q", "-o", core)
	t.Logf("dump took %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ram, err := os.Open(d.ramFile(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ram.Close()
	const page = 4096
	a, b := make([]byte, page), make([]byte, page)
	var pages, differ, covered uint64
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		// Below 4 GiB, the RAM file's offset is the guest-physical
		// address; this guest has no RAM above.
		if p.Paddr+p.Filesz > 4<<30 {
			t.Fatalf("PT_LOAD at %#x+%#x: above 4 GiB, which a 256 MiB guest has no RAM at", p.Paddr, p.Filesz)
		}
		covered += p.Filesz
		sr := p.Open()
		for off := uint64(0); off < p.Filesz; off += page {
			n := min(page, p.Filesz-off)
			if _, err := io.ReadFull(sr, a[:n]); err != nil {
				t.Fatalf("core at %#x: %v", p.Paddr+off, err)
			}
			if _, err := ram.ReadAt(b[:n], int64(p.Paddr+off)); err != nil {
				t.Fatalf("RAM file at %#x: %v", p.Paddr+off, err)
			}
			pages++
			if !bytes.Equal(a[:n], b[:n]) {
				if differ < 5 {
					t.Errorf("page %#x differs between the dump and the RAM file", p.Paddr+off)
				}
				differ++
			}
		}
	}
	t.Logf("dump: %d of %d pages differ from the RAM file (%d MiB of %d MiB RAM in PT_LOADs)", differ, pages, covered>>20, linuxguest.MemoryMB)
	if covered < (linuxguest.MemoryMB-1)<<20 {
		t.Errorf("the dump covers %d MiB of %d MiB", covered>>20, linuxguest.MemoryMB)
	}
	c.must(t, "resume")
	resumed = true
	d.waitMoreWrites(t, len(d.report(t).Writes))
}

// checkLinuxWinboot boots the shut-off domain with winboot and a 30 s
// deadline: the guest is not Windows, so the boot must fail, by the
// deadline at the latest, saying why, and leave the guest running.
func checkLinuxWinboot(ctx context.Context, t *testing.T, c *ctl, d *linuxDomain) {
	if err := d.dom.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := d.dom.State(ctx); err != nil || st != libvirt.StateShutoff {
		t.Fatalf("after destroy the domain is %v (%v)", st, err)
	}
	start := time.Now()
	out, errOut, code := c.run(t, "boot", "--winboot", "--deadline", "30s", d.name)
	took := time.Since(start)
	t.Logf("boot --winboot --deadline 30s: exit %d after %v\nstdout:\n%s\nstderr:\n%s", code, took.Round(time.Millisecond), out, errOut)
	if code == 0 {
		t.Errorf("winboot of a Linux guest succeeded")
	}
	if msg := strings.ToLower(out + errOut); !strings.Contains(msg, "windows") && !strings.Contains(msg, "ntoskrnl") {
		t.Errorf("the failure does not say the guest is not Windows (or that no ntoskrnl was found)")
	}
	if st, err := d.dom.State(ctx); err != nil || st != libvirt.StateRunning {
		t.Errorf("after the failed winboot the domain is %v (%v), want running", st, err)
	}
	d.waitReport(t, "writer lines after the failed winboot", func(r *linuxguest.Report) bool { return len(r.Writes) >= 3 })
	// Whether the failed boot left frostd attached is frostd's choice;
	// either way a detach lets the guest go and it runs on.
	var st pb.GetVMResponse
	c.json(t, &st, "state")
	t.Logf("state after the failed boot: attached %v, running %v", st.GetVm() != nil, st.GetVm().GetRunning())
	if st.GetVm() != nil {
		c.must(t, "detach")
		d.waitMoreWrites(t, len(d.report(t).Writes))
	}
}
