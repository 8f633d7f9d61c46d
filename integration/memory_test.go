package integration

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
)

// The memory manager's checks (issue 5): every PTE state is produced by
// mini-NT's own code while it runs, and the guest's report of what it did
// is checked against the bytes outside the guest: raw PTEs read through the
// gdbstub in physical mode, and paged-out pages read from the disk image.

// swizzleBit is the software PTE bit that says "the mask bits are real".
// It is the guest's contract (its README's swizzle rule), checked here from
// outside against the raw entries.
const swizzleBit = 0x10

// memoryCase is one configuration of the memory workload.
type memoryCase struct {
	name string
	cfg  minint.Config
}

// trimCounts is swapper.exe's last `trim` event: the per-state page counts
// of the settling pass.
func trimCounts(t testing.TB, rep minint.Report, pid uint64) map[string]uint64 {
	t.Helper()
	var last *minint.Event
	for _, e := range rep.All("trim") {
		if uintField(t, e, "pid") == pid {
			e := e
			last = &e
		}
	}
	if last == nil {
		t.Fatalf("no trim event for swapper (pid %d)", pid)
	}
	counts := map[string]uint64{}
	for _, k := range []string{"valid", "transition", "pagefile", "demand-zero", "zero-with-vad", "prototype", "subsection", "decommitted"} {
		counts[k] = uintField(t, *last, k)
	}
	return counts
}

// bootToReady boots cfg, waits for `ready`, pauses the guest so nothing
// moves while the test reads, and returns the report and the time to ready.
func bootToReady(t testing.TB, cfg minint.Config) (*minint.Machine, minint.Report, time.Duration) {
	t.Helper()
	began := time.Now()
	m := start(t, cfg)
	waitEvent(t, m, "ready")
	took := time.Since(began)
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	if err := m.Pause(ctx); err != nil {
		t.Fatalf("pausing the guest: %v", err)
	}
	return m, report(t, m), took
}

func swapperEvent(t testing.TB, rep minint.Report) minint.Event {
	t.Helper()
	e, ok := rep.First("swapper")
	if !ok {
		t.Fatal("the report has no swapper event")
	}
	return e
}

// TestMemoryStates boots the memory workload in each configuration of
// issue 5 and checks the states the guest's own memory manager produced.
func TestMemoryStates(t *testing.T) {
	requireGuest(t)
	two := []string{pagefile, `C:\pagefile2.sys`}
	cases := []struct {
		memoryCase
		check func(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64)
	}{
		{memoryCase{"pagefile", minint.Config{Seed: minint.Seed(21), PagingFiles: []string{pagefile}}}, checkDefaultStates},
		{memoryCase{"two-pagefiles", minint.Config{Seed: minint.Seed(22), PagingFiles: two}}, checkTwoPagefiles},
		{memoryCase{"pagefile/MININT-INRAM", minint.Config{Seed: minint.Seed(23), PagingFiles: []string{pagefile}, LoadOptions: "MININT INRAM"}}, checkInRAM},
		{memoryCase{"no-pagefile", minint.Config{Seed: minint.Seed(24)}}, checkNoPagefile},
		{memoryCase{"aggressive-trim", minint.Config{Seed: minint.Seed(25), PagingFiles: []string{pagefile}, TrimAggressive: true}}, checkPagedOutTables},
		{memoryCase{"noswizzle", minint.Config{Seed: minint.Seed(26), PagingFiles: []string{pagefile}, NoSwizzle: true}}, checkNoSwizzle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rep, took := bootToReady(t, tc.cfg)
			sw := swapperEvent(t, rep)
			counts := trimCounts(t, rep, uintField(t, sw, "pid"))
			t.Logf("%s: ready %.1f s after QEMU started; swapper's settled states %v", tc.name, took.Seconds(), counts)
			tc.check(t, m, rep, counts)
		})
	}
}

func checkDefaultStates(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	for _, k := range []string{"pagefile", "transition", "demand-zero", "zero-with-vad", "decommitted", "subsection"} {
		if counts[k] == 0 {
			t.Errorf("no %s pages in swapper's settled state %v", k, counts)
		}
	}
	checkSamples(t, m, rep, false)
	checkPagefileContent(t, m, rep)
}

func checkTwoPagefiles(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	per := map[uint64]int{}
	for _, e := range rep.All("pagedout") {
		per[uintField(t, e, "pagefile")]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("paged-out pages per paging file %v: want pages in both 0 and 1 (PageFileLow = 1 must occur)", per)
	}
	checkPagefileContent(t, m, rep)
}

func checkInRAM(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	checkEjectable(t, rep, 1)
	if counts["subsection"] != 0 {
		t.Errorf("%d subsection PTEs in swapper's image view under MININT INRAM, want 0", counts["subsection"])
	}
	for _, e := range rep.All("section") {
		if uintField(t, e, "in-ram") != 1 {
			t.Errorf("section %s is not in RAM under MININT INRAM", e.Get("file"))
		}
	}
}

func checkNoPagefile(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	if counts["pagefile"] != 0 {
		t.Errorf("%d pagefile pages with no paging file", counts["pagefile"])
	}
	if counts["transition"] == 0 {
		t.Errorf("no transition pages with no paging file: trimmed pages must stay in transition (%v)", counts)
	}
	if n := len(rep.All("pagedout")); n != 0 {
		t.Errorf("%d pagedout events with no paging file", n)
	}
}

func checkNoSwizzle(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	checkSamples(t, m, rep, true)
}

// checkSamples reads each sample PTE raw through the gdbstub in physical
// mode and checks it against the guest's report and the swizzle rule.
func checkSamples(t testing.TB, m *minint.Machine, rep minint.Report, noSwizzle bool) {
	cpu, ok := rep.First("cpu")
	if !ok {
		t.Fatal("the report has no cpu event")
	}
	mask := uintField(t, cpu, "invalid-pte-mask")
	samples := rep.All("sample")
	if len(samples) == 0 {
		t.Fatal("the report has no samples")
	}
	c := attachStub(t, m)
	var sawSwizzleBit, sawMask bool
	for _, s := range samples {
		state := s.Get("state")
		pa, raw, plain := uintField(t, s, "pte-pa"), uintField(t, s, "raw"), uintField(t, s, "unswizzled")
		if got := c.readUint64(t, pa); got != raw {
			t.Errorf("%s sample va %s: PTE at PA %#x is %#x, the guest reported %#x", state, s.Get("va"), pa, got, raw)
		}
		want := plain
		switch {
		case noSwizzle || state == "valid":
		case plain == 0 && raw == 0:
			// A zero entry in a page table that was zeroed when it was
			// made was never written through the swizzle; Windows reads
			// it as zero with or without the mask.
		case plain&mask != 0:
			want = plain | swizzleBit
		default:
			want = plain | mask
		}
		if raw != want {
			t.Errorf("%s sample va %s: raw %#x, want %#x = swizzle(%#x) with mask %#x (noswizzle %v)", state, s.Get("va"), raw, want, plain, mask, noSwizzle)
		}
		if state != "valid" && raw&swizzleBit != 0 {
			sawSwizzleBit = true
		}
		if raw&(1<<45) != 0 {
			sawMask = true
		}
	}
	t.Logf("%d samples, invalid-pte-mask %#x", len(samples), mask)
	if !noSwizzle && (!sawSwizzleBit || !sawMask) {
		t.Errorf("samples with SwizzleBit: %v, with bit 45: %v; want both", sawSwizzleBit, sawMask)
	}
}

// checkPagedOutTables checks that aggressive trimming paged out at least
// one page table, reading the PDE raw through the gdbstub.
func checkPagedOutTables(t testing.TB, m *minint.Machine, rep minint.Report, counts map[string]uint64) {
	outs := rep.All("pagetable-out")
	if len(outs) == 0 {
		t.Fatal("aggressive trimming paged out no page table (no pagetable-out event)")
	}
	c := attachStub(t, m)
	states := map[string]int{}
	for _, e := range outs {
		pa, raw := uintField(t, e, "pde-pa"), uintField(t, e, "raw")
		if got := c.readUint64(t, pa); got != raw {
			t.Errorf("PDE for %s..%s at PA %#x is %#x, the guest reported %#x", e.Get("start"), e.Get("end"), pa, got, raw)
		}
		if raw&1 != 0 {
			t.Errorf("PDE for %s..%s is valid (%#x), but reported paged out", e.Get("start"), e.Get("end"), raw)
		}
		states[e.Get("state")]++
	}
	t.Logf("paged-out page tables by state: %v", states)
	if states["transition"]+states["pagefile"] == 0 {
		t.Errorf("no PDE in transition or in the pagefile: %v", states)
	}
}

// checkPagefileContent ends QEMU and reads every page the guest reports as
// paged out from the paging file's extent in the disk image: pattern pages
// must be there whole, and page 0 of every extent must stay unused.
func checkPagefileContent(t testing.TB, m *minint.Machine, rep minint.Report) {
	sw := swapperEvent(t, rep)
	base, pages := uintField(t, sw, "pattern-base"), uintField(t, sw, "pages")
	if err := m.Kill(); err != nil {
		t.Fatalf("ending QEMU: %v", err)
	}
	img, err := os.Open(m.DiskPath())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()

	extents := map[uint64]uint64{} // paging file number → extent offset
	for _, e := range rep.All("pagingfile") {
		extents[uintField(t, e, "number")] = uintField(t, e, "offset")
	}
	page := make([]byte, 4096)
	var pattern, other int
	for _, e := range rep.All("pagedout") {
		va, n, off, diskOff := uintField(t, e, "va"), uintField(t, e, "pagefile"), uintField(t, e, "offset"), uintField(t, e, "disk-offset")
		ext, ok := extents[n]
		if !ok {
			t.Fatalf("page %#x is in paging file %d, which the report never registered", va, n)
		}
		if off == 0 || off%4096 != 0 {
			t.Errorf("page %#x is at offset %#x of paging file %d: want a non-zero page-aligned offset (page 0 stays unused)", va, off, n)
		}
		if diskOff != ext+off {
			t.Errorf("page %#x: disk offset %#x, want extent %#x + offset %#x", va, diskOff, ext, off)
		}
		if va < base || va >= base+pages*4096 {
			other++
			continue
		}
		if _, err := img.ReadAt(page, int64(diskOff)); err != nil {
			t.Fatalf("reading the disk image at %#x: %v", diskOff, err)
		}
		want := patternPage((va - base) / 4096)
		if !bytes.Equal(page, want) {
			t.Errorf("pattern page %d (va %#x) in paging file %d at %#x: got %x..., want %x...", (va-base)/4096, va, n, off, page[:16], want[:16])
		}
		pattern++
	}
	for n, ext := range extents {
		if _, err := img.ReadAt(page, int64(ext)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(page, make([]byte, 4096)) {
			t.Errorf("page 0 of paging file %d (disk offset %#x) is used: %x...", n, ext, page[:16])
		}
	}
	t.Logf("paged-out pages checked on disk: %d pattern pages, %d others", pattern, other)
	if pattern == 0 {
		t.Error("no pattern page was paged out")
	}
}

// patternPage is swapper.exe's page i, per the guest's README.
func patternPage(i uint64) []byte {
	p := make([]byte, 4096)
	binary.LittleEndian.PutUint64(p, 0x46524F5354000000|i)
	for j := uint64(1); j < 512; j++ {
		binary.LittleEndian.PutUint64(p[8*j:], i<<32|uint64(uint32(j*0x9E3779B1)))
	}
	return p
}

// stub is a gdbstub client for raw physical reads.
type stub struct{ c *gdbstub.Client }

// attachStub connects to the machine's gdbstub.
func attachStub(t testing.TB, m *minint.Machine) stub {
	t.Helper()
	caps, err := gdbstub.CapabilitiesFor(gdbstub.AccelTCG, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	network, addr := m.GDBAddr()
	c, err := gdbstub.Dial(ctx, network, addr, gdbstub.Config{Capabilities: caps})
	if err != nil {
		t.Fatalf("dialing the gdbstub: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return stub{c}
}

func (s stub) readUint64(t testing.TB, pa uint64) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	var b [8]byte
	n, err := s.c.ReadPhysical(ctx, pa, b[:])
	if err != nil || n != 8 {
		t.Fatalf("reading PA %#x through the gdbstub: %d bytes, %v", pa, n, fmt.Sprint(err))
	}
	return binary.LittleEndian.Uint64(b[:])
}
