package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// The checks of TestLinuxGuest and TestLinuxGuestPTI, and the frostctl
// calls they share.

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

// checkNeedsWindows: by now the reads through a DTB have looked for a
// Windows kernel once (the guest was running 64-bit code). What needs
// Windows fails fast with FailedPrecondition naming what was looked for,
// state shows the search standing until a reset, and frostd never looked
// again: its log has the miss once.
func checkNeedsWindows(t *testing.T, c *ctl, fd *frostdProc) {
	for _, args := range [][]string{{"ps"}, {"modules"}, {"break", "nt!NtWriteFile"}, {"ps"}} {
		_, errOut, code := c.run(t, args...)
		if code != 1 || !strings.Contains(errOut, "no Windows kernel found in this guest") ||
			!strings.Contains(errOut, "[FailedPrecondition") || !strings.Contains(errOut, "ntkrnlmp.pdb") {
			t.Errorf("frostctl %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	var st pb.GetVMResponse
	c.json(t, &st, "state")
	if ks := st.GetVm().GetKernelSearch(); !ks.GetSearched() || !ks.GetUntilReset() || !strings.Contains(ks.GetError(), "ntoskrnl") && !strings.Contains(ks.GetError(), "ntkrnlmp") {
		t.Errorf("state: kernel search %v", ks)
	}
	if n := strings.Count(fd.output(), `msg="no Windows kernel found"`); n != 1 {
		t.Errorf("frostd looked for a Windows kernel %d times, want once:\n%s", n, fd.output())
	}
}
