package nt

import (
	"testing"
)

// sampleGuest builds a small, valid kernel state: processes with threads,
// a VAD tree and a handle table with files and events.
func sampleGuest(t testing.TB) *guest {
	g := newGuest(t, false)
	g.initList(g.global("PsActiveProcessHead"))
	g.initList(g.global("PsLoadedModuleList"))
	types := g.objectTypes("Type", "Process", "Event", "File", "Device")
	g.process(4, 0, 0x1000, "System")
	w := g.process(0x58, 0x48, 0x9000, "writer.exe")
	g.thread(w, w, 0x5c)
	buildVADs(g, w, sampleVADs)
	ht := g.alloc("_HANDLE_TABLE")
	g.set("_EPROCESS", w, "ObjectTable", ht)
	page := g.allocBytes(0x1000)
	g.set("_HANDLE_TABLE", ht, "TableCode", page)
	g.set("_HANDLE_TABLE", ht, "NextHandleNeedingPool", 256*4)
	g.entry(page+16, g.object(types["Event"], "_QUAD"), 0x1f0003)
	g.entry(page+32, g.fileObject(types, `\frost\log.txt`), 0x120116)
	return g
}

// poolBase is where newGuest allocates objects.
const poolBase = 0xffffa00000010000

// FuzzKernelWalks feeds arbitrary guest memory (the object pool and the
// kernel's globals, seeded with a valid state) to every walk: each must
// end, with an answer or an error, never a panic or a hang.
func FuzzKernelWalks(f *testing.F) {
	g := sampleGuest(f)
	pool := make([]byte, g.next-poolBase)
	if err := g.mem.ReadVirtual(0, poolBase, pool); err != nil {
		f.Fatal(err)
	}
	globals := make([]byte, 0x200)
	if err := g.mem.ReadVirtual(0, testKernelBase+0x1000, globals); err != nil {
		f.Fatal(err)
	}
	f.Add(pool, globals)
	f.Add(pool[:len(pool)/2], globals)
	// The symbol table is the same for every input: built once, so each
	// input pays only for its walks.
	tab := g.tab
	f.Fuzz(func(t *testing.T, pool, globals []byte) {
		if len(pool) > 1<<16 || len(globals) > 0x1000 {
			return
		}
		g := &guest{t: t, tab: tab, mem: newFakeMemory(), next: poolBase}
		g.mem.write(testKernelBase, make([]byte, 0x4000)) // the image's globals
		g.mem.write(poolBase, pool)
		g.mem.write(testKernelBase+0x1000, globals)
		k := g.kernel()
		k.limits = Limits{Processes: 64, Threads: 64, Modules: 64, VADs: 256, VADDepth: 64, Handles: 4096, String: 512}.withDefaults()
		procs, _ := k.Processes()
		for _, p := range procs {
			k.VADs(p)
			k.FindVAD(p.DTB, 0x7ff600001000)
			k.Threads(p)
			k.Handles(p)
			k.LookupHandle(p, 0x8)
		}
		k.KernelHandles()
		k.Drivers()
		k.PagingFiles()
		k.Current(fakeRegisters{"cs": 0x10, "gs_base": poolBase, "k_gs_base": poolBase + 0x100, "cr3": 0x1000})
	})
}
