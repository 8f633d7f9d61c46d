package main

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// Memory on the Linux guest: a kernel page walk checked against physical
// reads and the RAM file, and a dump compared with the RAM file.

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
	// No Windows kernel here: the walk is the processor's, and says so.
	if pv.GetModel() != pb.TranslationModel_TRANSLATION_MODEL_X86_64 || !strings.Contains(pv.GetText(), "[x86-64] Valid") {
		t.Errorf("vtop %#x: model %v:\n%s", ksysWrite, pv.GetModel(), pv.GetText())
	}
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
