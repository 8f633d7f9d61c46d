package nt

import (
	"errors"
	"testing"
)

// userProcess lays out, on the real ISF (Windows 10's _PEB,
// _PEB_LDR_DATA, _LDR_DATA_TABLE_ENTRY, _RTL_USER_PROCESS_PARAMETERS), a
// process whose loader lists hold mods in load order; the
// initialization-order list holds the DLLs only, ntdll first, as Windows
// keeps it. It returns the EPROCESS, the PEB_LDR_DATA and the entries.
func (g *guest) userProcess(mods []UserModule) (ep, ldr uint64, entries []uint64) {
	ep = g.process(0x1f4, 4, 0x5a000, "notepad.exe")
	peb := g.alloc("_PEB")
	g.set("_EPROCESS", ep, "Peb", peb)
	ldr = g.alloc("_PEB_LDR_DATA")
	g.set("_PEB", peb, "Ldr", ldr)
	g.set("_PEB", peb, "ImageBaseAddress", mods[0].Base)
	for _, l := range []string{"InLoadOrderModuleList", "InMemoryOrderModuleList", "InInitializationOrderModuleList"} {
		g.initList(g.addr("_PEB_LDR_DATA", ldr, l))
	}
	for i, m := range mods {
		e := g.alloc("_LDR_DATA_TABLE_ENTRY")
		g.set("_LDR_DATA_TABLE_ENTRY", e, "DllBase", m.Base)
		g.set("_LDR_DATA_TABLE_ENTRY", e, "SizeOfImage", m.Size)
		g.set("_LDR_DATA_TABLE_ENTRY", e, "EntryPoint", m.EntryPoint)
		g.unicode(g.addr("_LDR_DATA_TABLE_ENTRY", e, "BaseDllName"), m.Name)
		g.unicode(g.addr("_LDR_DATA_TABLE_ENTRY", e, "FullDllName"), m.FullName)
		g.insertTail(g.addr("_PEB_LDR_DATA", ldr, "InLoadOrderModuleList"), g.addr("_LDR_DATA_TABLE_ENTRY", e, "InLoadOrderLinks"))
		g.insertTail(g.addr("_PEB_LDR_DATA", ldr, "InMemoryOrderModuleList"), g.addr("_LDR_DATA_TABLE_ENTRY", e, "InMemoryOrderLinks"))
		if i > 0 {
			g.insertTail(g.addr("_PEB_LDR_DATA", ldr, "InInitializationOrderModuleList"),
				g.addr("_LDR_DATA_TABLE_ENTRY", e, "InInitializationOrderLinks"))
		}
		entries = append(entries, e)
	}
	return ep, ldr, entries
}

var notepadModules = []UserModule{
	{Base: 0x7ff6b2a30000, Size: 0x38000, EntryPoint: 0x7ff6b2a53b30, Name: "notepad.exe", FullName: `C:\Windows\system32\notepad.exe`},
	{Base: 0x7ffc1e8d0000, Size: 0x1f5000, EntryPoint: 0, Name: "ntdll.dll", FullName: `C:\Windows\SYSTEM32\ntdll.dll`},
	{Base: 0x7ffc1d410000, Size: 0xbe000, EntryPoint: 0x7ffc1d4269d0, Name: "KERNEL32.DLL", FullName: `C:\Windows\System32\KERNEL32.DLL`},
}

// TestRealISFProcessModules: the three loader lists on Windows 10's
// layout, in their orders, with every field.
func TestRealISFProcessModules(t *testing.T) {
	g := newRealGuest(t)
	ep, _, entries := g.userProcess(notepadModules)
	k := g.kernel()
	p, err := k.ProcessAt(ep)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := k.ProcessModules(p)
	if err != nil || len(mods) != 3 {
		t.Fatalf("ProcessModules = %v, %v", mods, err)
	}
	for i, m := range mods {
		want := notepadModules[i]
		want.Entry = entries[i]
		if m != want {
			t.Errorf("module %d = %+v, want %+v", i, m, want)
		}
	}
	mem, err := k.ProcessModulesIn(p, MemoryOrder)
	if err != nil || len(mem) != 3 || mem[2].Name != "KERNEL32.DLL" {
		t.Errorf("memory order = %v, %v", mem, err)
	}
	init, err := k.ProcessModulesIn(p, InitializationOrder)
	if err != nil || len(init) != 2 || init[0].Name != "ntdll.dll" || init[0].Entry != entries[1] {
		t.Errorf("initialization order = %v, %v", init, err)
	}
	if _, err := k.ProcessModulesIn(p, ModuleOrder(7)); err == nil {
		t.Error("an unknown order succeeded")
	}
}

// TestRealISFProcessModulesBadLists: a list that loops without returning
// to its head, one cut by a null link, and a process without a PEB or
// without loader data all fail cleanly, never loop.
func TestRealISFProcessModulesBadLists(t *testing.T) {
	t.Run("cycle", func(t *testing.T) {
		g := newRealGuest(t)
		ep, _, entries := g.userProcess(notepadModules)
		// The last entry points back at the second, not at the head.
		g.set("_LIST_ENTRY", g.addr("_LDR_DATA_TABLE_ENTRY", entries[2], "InLoadOrderLinks"), "Flink",
			g.addr("_LDR_DATA_TABLE_ENTRY", entries[1], "InLoadOrderLinks"))
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		mods, err := k.ProcessModules(p)
		if !errors.Is(err, ErrCycle) || len(mods) != 3 {
			t.Errorf("ProcessModules = %v, %v; want the 3 modules and ErrCycle", mods, err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		g := newRealGuest(t)
		ep, _, entries := g.userProcess(notepadModules)
		g.set("_LIST_ENTRY", g.addr("_LDR_DATA_TABLE_ENTRY", entries[1], "InLoadOrderLinks"), "Flink", 0)
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		mods, err := k.ProcessModules(p)
		if !errors.Is(err, ErrCorrupt) || len(mods) != 2 {
			t.Errorf("ProcessModules = %v, %v; want 2 modules and ErrCorrupt", mods, err)
		}
	})
	t.Run("unmapped entry", func(t *testing.T) {
		g := newRealGuest(t)
		ep, _, entries := g.userProcess(notepadModules)
		g.set("_LIST_ENTRY", g.addr("_LDR_DATA_TABLE_ENTRY", entries[0], "InLoadOrderLinks"), "Flink", 0x7ff0000dea0)
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		mods, err := k.ProcessModules(p)
		var re *ReadError
		if !errors.As(err, &re) || len(mods) != 1 {
			t.Errorf("ProcessModules = %v, %v; want 1 module and a ReadError", mods, err)
		}
	})
	t.Run("no PEB", func(t *testing.T) {
		g := newRealGuest(t)
		ep := g.process(4, 0, 0x1ad000, "System")
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		if _, err := k.ProcessModules(p); !errors.Is(err, ErrNoPEB) {
			t.Errorf("ProcessModules(System) = %v, want ErrNoPEB", err)
		}
		if _, err := k.ProcessParameters(p); !errors.Is(err, ErrNoPEB) {
			t.Errorf("ProcessParameters(System) = %v, want ErrNoPEB", err)
		}
	})
	t.Run("no Ldr", func(t *testing.T) {
		g := newRealGuest(t)
		ep, _, _ := g.userProcess(notepadModules)
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		g.set("_PEB", p.Peb, "Ldr", 0)
		if _, err := k.ProcessModules(p); !errors.Is(err, ErrNoPEB) {
			t.Errorf("ProcessModules with a null Ldr = %v, want ErrNoPEB", err)
		}
	})
}

// utf16z is s as UTF-16LE with a terminating NUL.
func utf16z(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return append(b, 0, 0)
}

// TestRealISFProcessParameters: image path, command line, current
// directory and environment, normalized and not.
func TestRealISFProcessParameters(t *testing.T) {
	env := []string{"=C:=C:\\Users", "Path=C:\\Windows\\system32", "windir=C:\\Windows"}
	for _, normalized := range []bool{true, false} {
		g := newRealGuest(t)
		ep, _, _ := g.userProcess(notepadModules)
		k := g.kernel()
		p, _ := k.ProcessAt(ep)
		pp := g.alloc("_RTL_USER_PROCESS_PARAMETERS")
		g.set("_PEB", p.Peb, "ProcessParameters", pp)
		g.unicode(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, "ImagePathName"), `C:\Windows\system32\notepad.exe`)
		g.unicode(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, "CommandLine"), `"C:\Windows\system32\notepad.exe" a.txt`)
		g.unicode(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, "CurrentDirectory.DosPath"), `C:\Users\`)
		var block []byte
		for _, v := range env {
			block = append(block, utf16z(v)...)
		}
		block = append(block, 0, 0)
		envVA := g.allocBytes(uint64(len(block)))
		g.mem.write(envVA, block)
		g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "Environment", envVA)
		g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "EnvironmentSize", uint64(len(block)))
		if normalized {
			g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "Flags", 1)
		} else {
			// A denormalized block: every pointer an offset from it.
			for _, s := range []string{"ImagePathName", "CommandLine", "CurrentDirectory.DosPath"} {
				buf := g.u64(g.addr("_RTL_USER_PROCESS_PARAMETERS", pp, s+".Buffer"))
				g.set("_RTL_USER_PROCESS_PARAMETERS", pp, s+".Buffer", buf-pp)
			}
			g.set("_RTL_USER_PROCESS_PARAMETERS", pp, "Environment", envVA-pp)
		}
		got, err := k.ProcessParameters(p)
		if err != nil {
			t.Fatalf("normalized=%v: %v", normalized, err)
		}
		if got.Address != pp || got.ImageBase != notepadModules[0].Base || got.ImagePath != `C:\Windows\system32\notepad.exe` ||
			got.CommandLine != `"C:\Windows\system32\notepad.exe" a.txt` || got.CurrentDirectory != `C:\Users\` ||
			got.EnvironmentAddress != envVA || len(got.Environment) != 3 || got.Environment[0] != env[0] {
			t.Errorf("normalized=%v: %+v", normalized, got)
		}
		if v, ok := got.Getenv("PATH"); !ok || v != `C:\Windows\system32` {
			t.Errorf("Getenv(PATH) = %q, %v", v, ok)
		}
		if v, ok := got.Getenv("=C:"); !ok || v != `C:\Users` {
			t.Errorf("Getenv(=C:) = %q, %v", v, ok)
		}
	}
}

// TestRealISFEnvironmentUnterminated: a block with no empty string within
// EnvironmentSize is corrupt, not read past.
func TestRealISFEnvironmentUnterminated(t *testing.T) {
	g := newRealGuest(t)
	k := g.kernel()
	block := []byte{'A', 0, '=', 0, 'b', 0, 'c', 0}
	va := g.allocBytes(uint64(len(block)) + 16)
	g.mem.write(va, append(block, 'x', 0, 'y', 0))
	if vars, err := k.environment(0, va, uint64(len(block))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("environment = %q, %v; want ErrCorrupt", vars, err)
	}
}

// TestRealISFTEB: NtTib, ProcessEnvironmentBlock and ClientId of
// Windows 10's _TEB.
func TestRealISFTEB(t *testing.T) {
	g := newRealGuest(t)
	ep, _, _ := g.userProcess(notepadModules)
	k := g.kernel()
	p, _ := k.ProcessAt(ep)
	teb := g.alloc("_TEB")
	g.set("_TEB", teb, "NtTib.Self", teb)
	g.set("_TEB", teb, "NtTib.StackBase", 0x2e5f800000)
	g.set("_TEB", teb, "NtTib.StackLimit", 0x2e5f7fc000)
	g.set("_TEB", teb, "ProcessEnvironmentBlock", p.Peb)
	g.set("_TEB", teb, "ClientId.UniqueProcess", 0x1f4)
	g.set("_TEB", teb, "ClientId.UniqueThread", 0x1f8)
	info, err := k.TEB(p, teb)
	want := TEBInfo{Address: teb, Self: teb, StackBase: 0x2e5f800000, StackLimit: 0x2e5f7fc000, PEB: p.Peb, PID: 0x1f4, TID: 0x1f8}
	if err != nil || info != want {
		t.Errorf("TEB = %+v, %v; want %+v", info, err, want)
	}
	if _, err := k.TEB(p, 0); err == nil {
		t.Error("TEB(0) succeeded")
	}
}
