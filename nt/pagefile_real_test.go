package nt

import (
	"bytes"
	"testing"
)

// pagingFile makes an _MMPAGING_FILE numbered n.
func (g *guest) pagingFile(n uint64, name string, virtualStore bool) uint64 {
	pf := g.alloc("_MMPAGING_FILE")
	g.set("_MMPAGING_FILE", pf, "PageFileNumber", n)
	if virtualStore {
		g.set("_MMPAGING_FILE", pf, "VirtualStorePagefile", 1)
	}
	g.set("_MMPAGING_FILE", pf, "Size", 0x40000)
	g.set("_MMPAGING_FILE", pf, "MinimumSize", 0x40000)
	g.set("_MMPAGING_FILE", pf, "MaximumSize", 0x100000)
	g.set("_MMPAGING_FILE", pf, "File", 0xffffa000f11e0000+n*0x100)
	g.unicode(g.addr("_MMPAGING_FILE", pf, "PageFileName"), name)
	return pf
}

func checkPagingFiles(t *testing.T, k *Kernel) {
	t.Helper()
	pfs, err := k.PagingFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(pfs) != 2 || pfs[0].Number != 0 || pfs[0].Name != `\??\C:\pagefile.sys` || pfs[0].VirtualStore ||
		pfs[0].Size != 0x40000 || pfs[0].MaximumSize != 0x100000 || pfs[0].FileObject != 0xffffa000f11e0000 ||
		pfs[1].Number != 2 || !pfs[1].VirtualStore || pfs[1].Name != `\??\C:\swapfile.sys` {
		t.Fatalf("paging files %+v", pfs)
	}
	m, err := k.PagefileMap(nil)
	if err != nil || len(m) != 2 || m[0].VirtualStore || !m[2].VirtualStore {
		t.Errorf("PagefileMap = %+v, %v", m, err)
	}
}

// TestRealISFPagingFiles: MiSystemPartition.Vp.PagingFile[] on Windows
// 10's _MI_PARTITION, PageFileNumber and VirtualStorePagefile being
// bitfields of _MMPAGING_FILE there; and the translator built on it, its
// swizzle mask read from MiState.Hardware.InvalidPteMask.
func TestRealISFPagingFiles(t *testing.T) {
	g := newRealGuest(t)
	part := g.global("MiSystemPartition")
	// A gap in the array, as a removed paging file leaves.
	g.mem.write(g.addr("_MI_PARTITION", part, "Vp.PagingFile"), le(g.pagingFile(0, `\??\C:\pagefile.sys`, false)))
	g.mem.write(g.addr("_MI_PARTITION", part, "Vp.PagingFile")+16, le(g.pagingFile(2, `\??\C:\swapfile.sys`, true)))
	g.set("_MI_PARTITION", part, "Vp.NumberOfPagingFiles", 3)
	g.set("_MI_SYSTEM_INFORMATION", g.global("MiState"), "Hardware.InvalidPteMask", 1<<45)
	k := g.kernel()
	checkPagingFiles(t, k)

	l, err := NewLayout(g.tab)
	if err != nil {
		t.Fatal(err)
	}
	if mask, err := k.SwizzleMask(l); err != nil || mask != 1<<45 {
		t.Errorf("SwizzleMask = %#x, %v; want 1<<45", mask, err)
	}
	if _, err := k.NewTranslator(TranslatorOptions{Physical: bytes.NewReader(make([]byte, 0x1000))}); err != nil {
		t.Errorf("NewTranslator: %v", err)
	}
}

// TestRealISFPagingFilesMmPagingFile: before MiSystemPartition (Windows
// 8.1 and earlier) the array is MmPagingFile[16], counted by
// MmNumberOfPagingFiles. Neither mini-NT nor this ISF has those globals:
// the real table gets them instead of MiSystemPartition.
func TestRealISFPagingFilesMmPagingFile(t *testing.T) {
	const arrRVA, countRVA = 0xc90000, 0xc90080
	g := newGuestOn(t, realISFWith(t, []string{"MiSystemPartition"}, map[string]uint64{"MmPagingFile": arrRVA, "MmNumberOfPagingFiles": countRVA}, nil))
	g.mem.write(testKernelBase+arrRVA, make([]byte, 16*8))
	g.mem.write(testKernelBase+arrRVA, le(g.pagingFile(0, `\??\C:\pagefile.sys`, false)))
	g.mem.write(testKernelBase+arrRVA+16, le(g.pagingFile(2, `\??\C:\swapfile.sys`, true)))
	g.mem.write(testKernelBase+countRVA, []byte{3, 0, 0, 0})
	checkPagingFiles(t, g.kernel())
}

// TestRealISFSwizzleFromPhysicalBits: a build whose MiState has no
// InvalidPteMask takes the swizzle bit from KiImplementedPhysicalBits;
// a build with neither predates the mitigation.
func TestRealISFSwizzleFromPhysicalBits(t *testing.T) {
	tab := realISFWith(t, nil, nil, map[string][]string{"_MI_HARDWARE_STATE": {"InvalidPteMask"}})
	g := newGuestOn(t, tab)
	g.mem.write(g.global("KiImplementedPhysicalBits"), []byte{46, 0, 0, 0})
	l, err := NewLayout(tab)
	if err != nil {
		t.Fatal(err)
	}
	if mask, err := g.kernel().SwizzleMask(l); err != nil || mask != 1<<45 {
		t.Errorf("SwizzleMask from 46 physical bits = %#x, %v; want 1<<45", mask, err)
	}
	old := newGuestOn(t, realISFWith(t, []string{"KiImplementedPhysicalBits"}, nil, map[string][]string{"_MI_HARDWARE_STATE": {"InvalidPteMask"}}))
	if mask, err := old.kernel().SwizzleMask(l); err != nil || mask != 0 {
		t.Errorf("SwizzleMask with neither symbol = %#x, %v; want 0", mask, err)
	}
}
