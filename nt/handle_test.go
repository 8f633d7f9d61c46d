package nt

import (
	"errors"
	"testing"
)

const testCookie = 0x5a

// objectTypes makes ObTypeIndexTable entries 2.. for names, and sets
// ObHeaderCookie.
func (g *guest) objectTypes(names ...string) map[string]uint64 {
	g.mem.write(g.global("ObHeaderCookie"), []byte{testCookie})
	idx := map[string]uint64{}
	for i, n := range names {
		t := g.alloc("_OBJECT_TYPE")
		g.unicode(g.addr("_OBJECT_TYPE", t, "Name"), n)
		g.set("_OBJECT_TYPE", t, "Index", uint64(i+2))
		g.mem.write(g.global("ObTypeIndexTable")+8*uint64(i+2), le(t))
		idx[n] = uint64(i + 2)
	}
	return idx
}

func le(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// object allocates an object header and body of type index idx, with the
// index scrambled as Windows 10 stores it; it returns the header.
func (g *guest) object(idx uint64, body string) uint64 {
	hs, _ := g.tab.Size("_OBJECT_HEADER")
	bs, _ := g.tab.Size(body)
	g.next = (g.next + 15) &^ 15
	h := g.allocBytes(hs + bs + 16)
	g.set("_OBJECT_HEADER", h, "TypeIndex", (idx^testCookie^(h>>8))&0xff)
	return h
}

func (g *guest) body(h uint64) uint64 { return g.addr("_OBJECT_HEADER", h, "Body") }

// entry fills a handle table entry for the object at header h.
func (g *guest) entry(at, h, access uint64) {
	f, err := g.tab.Field("_HANDLE_TABLE_ENTRY.ObjectPointerBits")
	if err != nil {
		g.t.Fatal(err)
	}
	g.set("_HANDLE_TABLE_ENTRY", at, "ObjectPointerBits", (h&0xffff_ffff_ffff)>>(48-f.BitLength))
	g.set("_HANDLE_TABLE_ENTRY", at, "GrantedAccessBits", access)
	g.set("_HANDLE_TABLE_ENTRY", at, "Unlocked", 1)
}

// fileObject makes a File object named name on a device of \Driver\atapi.
func (g *guest) fileObject(types map[string]uint64, name string) uint64 {
	drv := g.alloc("_DRIVER_OBJECT")
	g.unicode(g.addr("_DRIVER_OBJECT", drv, "DriverName"), `\Driver\atapi`)
	devh := g.object(types["Device"], "_DEVICE_OBJECT")
	g.set("_DEVICE_OBJECT", g.body(devh), "DriverObject", drv)
	fh := g.object(types["File"], "_FILE_OBJECT")
	g.set("_FILE_OBJECT", g.body(fh), "DeviceObject", g.body(devh))
	g.unicode(g.addr("_FILE_OBJECT", g.body(fh), "FileName"), name)
	return fh
}

// TestHandlesLevel1: 300 events then a file, as writer.exe opens them, so
// the file's handle lives in the second page of a level-1 table.
func TestHandlesLevel1(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		types := g.objectTypes("Type", "Process", "Event", "File", "Device")
		ep := g.process(0x58, 0x48, 0x9000, "writer.exe")
		ht := g.alloc("_HANDLE_TABLE")
		g.set("_EPROCESS", ep, "ObjectTable", ht)
		pages := g.allocBytes(0x1000)
		p0, p1 := g.allocBytes(0x1000), g.allocBytes(0x1000)
		g.mem.write(pages, append(le(p0), le(p1)...))
		g.set("_HANDLE_TABLE", ht, "TableCode", pages|1)
		g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 2*256*4)
		var fileHandle uint64
		n := 0
		for h := uint64(4); n < 301; h += 4 {
			i := h >> 2
			if i%256 == 0 {
				continue
			}
			page := p0
			if i >= 256 {
				page = p1
			}
			at := page + (i%256)*16
			if n < 300 {
				g.entry(at, g.object(types["Event"], "_QUAD"), 0x1f0003)
			} else {
				g.entry(at, g.fileObject(types, `\frost\log.txt`), 0x120116)
				fileHandle = h
			}
			n++
		}
		k := g.kernel()
		p, _ := k.ProcessByPID(0x58)
		hs, err := k.Handles(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 301 {
			t.Fatalf("%d handles, want 301", len(hs))
		}
		for _, h := range hs[:300] {
			if h.Type != "Event" || h.GrantedAccess != 0x1f0003 {
				t.Fatalf("handle %v access %#x, want an Event with 0x1f0003", h, h.GrantedAccess)
			}
		}
		f := hs[300]
		if fileHandle <= 0x400 || f.Value != fileHandle || f.Type != "File" || f.Name != `\frost\log.txt` || f.File == nil || f.File.DriverName != `\Driver\atapi` {
			t.Fatalf("file handle %v (%+v), want %#x \\frost\\log.txt on \\Driver\\atapi", f, f.File, fileHandle)
		}
		if f.File.Path() != `[\Driver\atapi]\frost\log.txt` {
			t.Errorf("Path() = %q", f.File.Path())
		}
		got, err := k.LookupHandle(p, fileHandle)
		if err != nil || got.Body != f.Body || got.Name != f.Name {
			t.Errorf("LookupHandle(%#x) = %v, %v", fileHandle, got, err)
		}
		if tagged, err := k.LookupHandle(p, fileHandle|3); err != nil || tagged.Body != f.Body {
			t.Errorf("LookupHandle with tag bits: %v, %v", tagged, err)
		}
		for _, h := range []uint64{0, 2, 0x400, 2 * 256 * 4, 0x7fffffc, 0xffffffffffffffff} {
			if _, err := k.LookupHandle(p, h); !errors.Is(err, ErrNoHandle) {
				t.Errorf("LookupHandle(%#x): %v, want ErrNoHandle", h, err)
			}
		}
	})
}

// TestHandlesKernelAndLevel2: the kernel's table (level 2 here) answers
// kernel handles from any process.
func TestHandlesKernelAndLevel2(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		types := g.objectTypes("Type", "Process", "Event", "File", "Device")
		ht := g.alloc("_HANDLE_TABLE")
		g.mem.write(g.global("ObpKernelHandleTable"), le(ht))
		top, mid := g.allocBytes(0x1000), g.allocBytes(0x1000)
		page := g.allocBytes(0x1000)
		g.mem.write(top, le(mid))
		g.mem.write(mid+8, le(page)) // the second page of entries
		g.set("_HANDLE_TABLE", ht, "TableCode", top|2)
		g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 2*256*4)
		g.entry(page+3*16, g.fileObject(types, `\pagefile.sys`), 0x12019f)
		k := g.kernel()
		hs, err := k.KernelHandles()
		if err != nil {
			t.Fatal(err)
		}
		want := uint64(256+3) * 4
		if len(hs) != 1 || hs[0].Value != want || hs[0].Name != `\pagefile.sys` {
			t.Fatalf("kernel handles %v, want %#x \\pagefile.sys", hs, want)
		}
		h, err := k.LookupHandle(Process{PID: 0x58}, want|0xffffffff80000000)
		if err != nil || h.Name != `\pagefile.sys` || h.Value != want|0xffffffff80000000 {
			t.Errorf("kernel handle from a process: %v, %v", h, err)
		}
	})
}

// TestHandlesCorrupt: a fourth table level, and a table claiming more
// handles than the bound, are refused.
func TestHandlesCorrupt(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		g.objectTypes("Type")
		ht := g.alloc("_HANDLE_TABLE")
		g.mem.write(g.global("ObpKernelHandleTable"), le(ht))
		g.set("_HANDLE_TABLE", ht, "TableCode", g.allocBytes(0x1000)|3)
		g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 0x1000)
		k := g.kernel()
		if _, err := k.KernelHandles(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("level 3: %v, want ErrCorrupt", err)
		}
		g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 0xfffffffc)
		k.limits.Handles = 1 << 20
		if _, err := k.KernelHandles(); !errors.Is(err, ErrTooLong) {
			t.Errorf("4G handles: %v, want ErrTooLong", err)
		}
	})
}
