package nt

import "testing"

// FuzzRealISFUserMode feeds arbitrary bytes, on Windows 10's layout, in
// place of a process's PEB, loader lists, process parameters, environment
// and token (all guest memory, so untrusted) to the readers over them:
// each ends with an answer or an error, never a panic or a hang. The seed
// is a valid process: three modules, parameters with an environment, and a
// token with SIDs.
func FuzzRealISFUserMode(f *testing.F) {
	seed := func(tb testing.TB) (*guest, uint64) {
		g := newRealGuest(tb)
		ep, _, _ := g.userProcess(notepadModules)
		peb := g.u64(g.addr("_EPROCESS", ep, "Peb"))
		pp := g.alloc("_RTL_USER_PROCESS_PARAMETERS")
		g.set("_PEB", peb, "ProcessParameters", pp)
		g.unicode(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, "ImagePathName"), `C:\Windows\system32\notepad.exe`)
		g.unicode(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, "CommandLine"), `notepad.exe a.txt`)
		block := append(append(utf16z("Path=C:\\Windows"), utf16z("windir=C:\\Windows")...), 0, 0)
		env := g.allocBytes(uint64(len(block)))
		g.mem.write(env, block)
		g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "Environment", env)
		g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "EnvironmentSize", uint64(len(block)))
		g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "Flags", 1)
		g.token(ep, 7, []uint64{g.sid(5, 21, 1, 2, 3, 1001), g.sid(1, 0)}, []uint64{0, 7})
		return g, ep
	}
	g, ep := seed(f)
	pool := make([]byte, g.next-poolBase)
	if err := g.mem.ReadVirtual(0, poolBase, pool); err != nil {
		f.Fatal(err)
	}
	f.Add(pool)
	f.Add(pool[:len(pool)/2])
	base := g
	f.Fuzz(func(t *testing.T, pool []byte) {
		if len(pool) > 1<<16 {
			return
		}
		g := base.fuzzCopy(t)
		// The EPROCESS stays as laid out, so the walk starts where a real
		// one would; everything it leads to is the fuzzer's.
		epBytes := make([]byte, g.size("_EPROCESS"))
		if err := g.mem.ReadVirtual(0, ep, epBytes); err != nil {
			t.Fatal(err)
		}
		g.mem.write(poolBase, pool)
		g.mem.write(ep, epBytes)
		k := g.kernel()
		k.limits = Limits{Modules: 64, VADs: 256, VADDepth: 64, String: 512}.withDefaults()
		p, err := k.ProcessAt(ep)
		if err != nil {
			return
		}
		for _, o := range []ModuleOrder{LoadOrder, MemoryOrder, InitializationOrder} {
			k.ProcessModulesIn(p, o)
		}
		k.ProcessParameters(p)
		k.ProcessImages(p)
		k.Token(p)
	})
}
