package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// ptiUserPGD is what separates a process's two page-table roots under
// Linux's page-table isolation: the kernel's PGD is an 8 KiB-aligned pair
// of pages, the user copy is its second page (PTI_USER_PGTABLE_BIT, bit
// 12 of CR3). A vCPU in the kernel, as at a ksys_write hit, runs on the
// first.
const ptiUserPGD = 0x1000

// TestLinuxGuestPTI: the same Debian kernel with page-table isolation
// forced on (pti=on; the qemu64 vCPU is AMD's, so it is off by default),
// as on the Intel hosts that need it. Frost is given both CR3s a process
// has: the kernel's, which a ksys_write hit carries, and the user copy,
// which is what CR3 holds while the process runs in user mode. The
// writer's buffer reads the same through both; the kernel's text is
// mapped only in the kernel's (with pti=on the kernel image is not
// shared with user mode; arch/x86/mm/pti.c), and Frost's walk of the user
// copy says so instead of finding it.
func TestLinuxGuestPTI(t *testing.T) {
	requireLinuxE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	g := startLinuxGuest(ctx, t, linuxguest.Config{PTI: true})
	if !g.rep.PTI {
		t.Fatalf("the kernel runs without PTI despite pti=on (cpu report: pcid=%v meltdown=%q)", g.rep.PCID, g.rep.Meltdown)
	}
	c, d := g.ctl, g.dom
	ksysWrite := g.symbol(t, "ksys_write")
	c.must(t, "attach", d.name)

	kernelCR3, buf := findWriterCR3(t, c, d, ksysWrite)
	if kernelCR3&(2*ptiUserPGD-1) != 0 {
		t.Fatalf("the writer's CR3 at ksys_write is %#x: want the kernel's PGD, 8 KiB-aligned, under PTI", kernelCR3)
	}
	userCR3 := kernelCR3 | ptiUserPGD

	// The buffer (the writer's stdio buffer, which keeps its last line)
	// reads the same through both roots: user space is mapped in both.
	viaKernel := readVirtual(t, c, kernelCR3, buf, writeLen)
	viaUser := readVirtual(t, c, userCR3, buf, writeLen)
	if _, ok := linuxguest.ParseWrite(string(viaKernel)); !ok || string(viaUser) != string(viaKernel) {
		t.Errorf("the writer's buffer at %#x: %q through the kernel's CR3 %#x, %q through the user's %#x", buf, viaKernel, kernelCR3, viaUser, userCR3)
	}

	// Kernel text: a 2 MiB page through the kernel's root ...
	checkKernelVtop(t, c, d, ksysWrite, kernelCR3)
	// ... and not mapped through the user's.
	out, errOut, code := c.run(t, "vtop", "--json=proto", "--dtb", hex(userCR3), hex(ksysWrite))
	if code != 0 {
		t.Logf("vtop through the user CR3 %#x: exit %d: %s", userCR3, code, strings.TrimSpace(errOut))
	} else {
		var tr pb.TranslateResponse
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(out), &tr); err != nil {
			t.Fatalf("vtop: %v\n%s", err, out)
		}
		pv := tr.GetProvenance()
		t.Logf("vtop %#x through the user CR3 %#x:\n%s", ksysWrite, userCR3, pv.GetText())
		if pv.GetLocation().GetState() == pb.PageState_PAGE_STATE_VALID {
			t.Errorf("ksys_write is mapped in the user page tables under pti=on: %v", pv.GetLocation())
		}
	}
	c.must(t, "detach")
	d.waitMoreWrites(t, len(d.report(t).Writes))
}
