package nt

import (
	"errors"
	"testing"
)

// TestRealISFHandlesLevel2: a table past 512 pages of entries (131072
// handles) has a third level, TableCode's low bits 2: a page of pointers
// to pages of pointers. mini-NT never grows a table that far. Every page
// of the first middle page is one shared page of free entries, so the
// walk reads them all and finds nothing there; the handles are in the
// second middle page's first two pages.
func TestRealISFHandlesLevel2(t *testing.T) {
	g := newRealGuest(t)
	types := g.objectTypes("Type", "Process", "Event", "File", "Device")
	ep := g.process(0x1f0, 0x2c8, 0x3a000, "handles.exe")
	ht := g.alloc("_HANDLE_TABLE")
	g.set("_EPROCESS", ep, "ObjectTable", ht)

	perPage := 0x1000 / g.size("_HANDLE_TABLE_ENTRY") // 256
	const ptrsPage = 0x1000 / 8                       // 512
	top, mid0, mid1 := g.allocBytes(0x1000), g.allocBytes(0x1000), g.allocBytes(0x1000)
	free := g.allocBytes(0x1000)
	for i := uint64(0); i < ptrsPage; i++ {
		g.mem.write(mid0+8*i, le(free))
	}
	p0, p1 := g.allocBytes(0x1000), g.allocBytes(0x1000)
	g.mem.write(mid1, append(le(p0), le(p1)...))
	g.mem.write(top, append(le(mid0), le(mid1)...))
	g.set("_HANDLE_TABLE", ht, "TableCode", top|2)
	g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", (ptrsPage*perPage+2*perPage)*4)

	event := g.object(types["Event"], "_KEVENT")
	file := g.fileObject(types, `\Users\frost\report.docx`)
	g.entry(p0+5*16, event, 0x1f0003)
	g.entry(p1+1*16, file, 0x12019f)
	wantEvent := (ptrsPage*perPage + 5) * 4
	wantFile := (ptrsPage*perPage + perPage + 1) * 4

	k := g.kernel()
	p, err := k.ProcessByPID(0x1f0)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := k.Handles(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Value != wantEvent || hs[0].Type != "Event" || hs[0].Header != event ||
		hs[1].Value != wantFile || hs[1].Type != "File" || hs[1].Name != `\Users\frost\report.docx` || hs[1].GrantedAccess != 0x12019f {
		t.Fatalf("handles %v, want an Event at %#x and report.docx at %#x", hs, wantEvent, wantFile)
	}
	for _, want := range hs {
		got, err := k.LookupHandle(p, want.Value)
		if err != nil || got.Header != want.Header || got.Entry != want.Entry {
			t.Errorf("LookupHandle(%#x) = %v, %v; want %v", want.Value, got, err, want)
		}
	}
	// A free entry under the first middle page, a page the table has no
	// pointer for, and a value past the table are not handles.
	for _, h := range []uint64{0x40 * 4, (ptrsPage*perPage + 3*perPage + 1) * 4, (2*ptrsPage*perPage + 1) * 4} {
		if got, err := k.LookupHandle(p, h); !errors.Is(err, ErrNoHandle) {
			t.Errorf("LookupHandle(%#x) = %v, %v; want ErrNoHandle", h, got, err)
		}
	}
}

// TestRealISFKernelHandleBit: a kernel handle (OBJ_KERNEL_HANDLE: bit 31
// of the 32-bit value, sign-extended in a 64-bit register, as a driver's
// ZwWriteFile passes it) indexes ObpKernelHandleTable from any process;
// the same value without the bit is the process's own. mini-NT's kernel
// handles never carry the bit.
func TestRealISFKernelHandleBit(t *testing.T) {
	g := newRealGuest(t)
	g.fillInfoMaskToOffset()
	types := g.objectTypes("Type", "Directory", "Process", "Event", "File", "Device")
	ep := g.process(0x1f0, 0x2c8, 0x3a000, "handles.exe")
	own := g.objectInfo(types["Event"], 0x02, "_KEVENT", "own-event", 0)
	g.levelZeroTable(ep, own) // handle 4

	kt := g.alloc("_HANDLE_TABLE")
	g.mem.write(g.global("ObpKernelHandleTable"), le(kt))
	pages, page := g.allocBytes(0x1000), g.allocBytes(0x1000)
	g.mem.write(pages, le(page))
	g.set("_HANDLE_TABLE", kt, "TableCode", pages|1)
	g.set("_HANDLE_TABLE", kt, "NextHandleNeedingPool", 0x400)
	kernel := g.objectInfo(types["Event"], 0x0b, "_KEVENT", "kernel-event", 0)
	g.entry(page+1*16, kernel, 0x1f0003) // handle 4 of the kernel's table

	k := g.kernel()
	p, err := k.ProcessByPID(0x1f0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		value uint64
		name  string
	}{
		{4, "own-event"},
		{0xffffffff80000004, "kernel-event"},
		{0x80000004, "kernel-event"},
	} {
		h, err := k.LookupHandle(p, c.value)
		if err != nil || h.Name != c.name || h.Value != c.value {
			t.Errorf("LookupHandle(%#x) = %v, %v; want %s", c.value, h, err, c.name)
		}
	}
	kh, err := k.KernelHandles()
	if err != nil || len(kh) != 1 || kh[0].Name != "kernel-event" || kh[0].Value != 4 {
		t.Errorf("KernelHandles() = %v, %v", kh, err)
	}
}
