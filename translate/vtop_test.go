package translate

import (
	"strings"
	"testing"
)

// TestVtopFormat pins the provenance format, Rekall's vtop extended with
// the swizzle and nested walks: a trimmed page of an image view whose PTE
// says "ask the VAD", whose prototype PTE sits in a paged-pool page that is
// itself in transition, and is a subsection PTE.
func TestVtopFormat(t *testing.T) {
	g := newGuest(t, 36, mask46)
	g.va = viewVA + 2*pageSize
	g.b.vads.add(g.dtb, VAD{Start: viewVA, End: viewVA + 8*pageSize, Protection: 7, FirstPrototypePte: g.pool + 0x40, Subsection: g.subs})
	g.b.subsection(g.dtb, g.subs, g.pool+0x40, 8, 8, 17, 0x34)
	g.protoSlot(0x40/8+2, g.b.subsectionPTE(g.subs, 3))
	kpte := g.b.entryPA(g.dtb, g.pool, LevelPTE)
	g.b.mem.write64(kpte, g.b.swizzle(g.b.transition(g.poolPA>>pageShift, 4)))
	g.b.setInvalid(g.dtb, g.va, LevelPTE, g.b.vadMarker())
	g.b.files[g.subs] = MappedFile{Name: `\Windows\System32\frostimg.dll`, Data: fileOf(make([]byte, 0x8000))}
	tr := g.b.translator(mask46)
	got := tr.Vtop(g.dtb, g.va+0x10).String()
	if got != vtopGolden {
		t.Errorf("vtop:\n%s\nwant:\n%s", got, vtopGolden)
		gl, wl := strings.Split(got, "\n"), strings.Split(vtopGolden, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Errorf("first difference, line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
				break
			}
		}
	}
}

const vtopGolden = `Virtual Address 0x00007ff600002010 (DTB 0x100000)
pml4e@ 0x1007f8 = 0x0000000000107067
  [_MMPTE_HARDWARE] Valid PFN 0x107 -> pdpt @ 0x107000
pdpte@ 0x107ec0 = 0x0000000000108067
  [_MMPTE_HARDWARE] Valid PFN 0x108 -> page directory @ 0x108000
pde@ 0x108000 = 0x0000000000109067
  [_MMPTE_HARDWARE] Valid PFN 0x109 -> page table @ 0x109000
pte@ 0x109010 = 0xffffffff00000410
  SwizzleBit set: mask bits kept
  [_MMPTE_PROTOTYPE] VAD Prototype ProtoAddress 0xffffffff0000 (lookup needed)
Consulting VAD: 0x7ff600000000-0x7ff600008000 mapped, FirstPrototypePte 0xffffa00020000040, Subsection 0xffffa00000000000, Protection 7 (ExecuteWriteCopy)
Prototype PTE is found in VAD: FirstPrototypePte 0xffffa00020000040 + 0x2 -> 0xffffa00020000050
    Virtual Address 0xffffa00020000050 (DTB 0x100000)
    pml4e@ 0x100a00 = 0x0000000000102067
      [_MMPTE_HARDWARE] Valid PFN 0x102 -> pdpt @ 0x102000
    pdpte@ 0x102000 = 0x0000000000103067
      [_MMPTE_HARDWARE] Valid PFN 0x103 -> page directory @ 0x103000
    pde@ 0x103800 = 0x0000000000104067
      [_MMPTE_HARDWARE] Valid PFN 0x104 -> page table @ 0x104000
    pte@ 0x104000 = 0x0000200000101880
      swizzle mask 0x200000000000 removed: 0x0000000000101880
      [_MMPTE_TRANSITION] Transition PFN 0x101 Protection 4 (ReadWrite) -> page @ 0x101000, in transition
    Physical Address 0x101050 (transition)
proto@ 0x101050 = 0xa000200000000460 (kernel VA 0xffffa00020000050)
  swizzle mask 0x200000000000 removed: 0xa000000000000460
  [_MMPTE_SUBSECTION] Subsection SubsectionAddress 0xffffa00000000000 Protection 3 (ExecuteRead) -> _SUBSECTION @ 0xffffa00000000000
    Virtual Address 0xffffa00000000000 (DTB 0x100000)
    pml4e@ 0x100a00 = 0x0000000000102067
      [_MMPTE_HARDWARE] Valid PFN 0x102 -> pdpt @ 0x102000
    pdpte@ 0x102000 = 0x0000000000103067
      [_MMPTE_HARDWARE] Valid PFN 0x103 -> page directory @ 0x103000
    pde@ 0x103000 = 0x0000000000106067
      [_MMPTE_HARDWARE] Valid PFN 0x106 -> page table @ 0x106000
    pte@ 0x106000 = 0x0000000000105067
      [_MMPTE_HARDWARE] Valid PFN 0x105 -> 4K page @ 0x105000
    Physical Address 0x105000
Subsection 0xffffa00000000000: SubsectionBase 0xffffa00020000040, StartingSector 0x8, NumberOfFullSectors 17, SectorEndOffset 52, PTE index 2 -> file offset 0x3000 (data ends at 0x3234)
File Mapping \Windows\System32\frostimg.dll @ 0x3010
`
