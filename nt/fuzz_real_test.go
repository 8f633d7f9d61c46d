package nt

import "testing"

// FuzzRealISFObjectNames feeds arbitrary object pool bytes and an
// arbitrary ObpInfoMaskToOffset, on Windows 10's layout, to the object
// name walk (optional headers, directories up to the root) and the handle
// table over it: each ends with an answer or an error, never a panic or a
// hang. The seed is a valid namespace with a process's handles into it.
func FuzzRealISFObjectNames(f *testing.F) {
	seed := func(tb testing.TB) (*guest, []uint64) {
		g := newRealGuest(tb)
		g.fillInfoMaskToOffset()
		types := g.objectTypes("Type", "Directory", "Event", "File", "Device")
		ns := newNamespace(g, types)
		ev := g.objectInfo(types["Event"], 0x0b, "_KEVENT", "frost-ready", ns.dirs[ns.dir(`\`, "BaseNamedObjects")])
		vol := g.objectInfo(types["Device"], 0x03, "_DEVICE_OBJECT", "HarddiskVolume3", ns.dirs[ns.dir(`\`, "Device")])
		file := g.objectInfo(types["File"], 0, "_FILE_OBJECT", "", 0)
		g.set("_FILE_OBJECT", g.body(file), "DeviceObject", g.body(vol))
		g.unicode(g.addr("_FILE_OBJECT", g.body(file), "FileName"), `\x.txt`)
		ep := g.process(0x58, 4, 0x9000, "fuzz.exe")
		g.levelZeroTable(ep, ev, vol, file)
		return g, []uint64{ev, vol, file}
	}
	g, headers := seed(f)
	pool := make([]byte, g.next-poolBase)
	if err := g.mem.ReadVirtual(0, poolBase, pool); err != nil {
		f.Fatal(err)
	}
	var table [256]byte
	if err := g.mem.ReadVirtual(0, g.global("ObpInfoMaskToOffset"), table[:]); err != nil {
		f.Fatal(err)
	}
	f.Add(pool, table[:])
	base := g
	f.Fuzz(func(t *testing.T, pool, table []byte) {
		if len(pool) > 1<<16 || len(table) > 256 {
			return
		}
		g := base.fuzzCopy(t)
		g.mem.write(poolBase, pool)
		g.mem.write(g.global("ObpInfoMaskToOffset"), table)
		k := g.kernel()
		k.limits = Limits{Handles: 4096, String: 512}.withDefaults()
		for _, h := range headers {
			k.ObjectAt(h, nil)
		}
		if p, err := k.ProcessByPID(0x58); err == nil {
			k.Handles(p)
		}
	})
}
