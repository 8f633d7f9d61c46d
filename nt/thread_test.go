package nt

import (
	"errors"
	"testing"
)

// thread makes an ETHREAD of process ep, running in the address space of
// space (ep itself unless attached).
func (g *guest) thread(ep, space, tid uint64) uint64 {
	et := g.alloc("_ETHREAD")
	pid := g.u64(g.addr("_EPROCESS", ep, "UniqueProcessId"))
	g.set("_ETHREAD", et, "Cid.UniqueThread", tid)
	g.set("_ETHREAD", et, "Cid.UniqueProcess", pid)
	g.set("_ETHREAD", et, "Tcb.Process", g.addr("_EPROCESS", ep, "Pcb"))
	g.set("_ETHREAD", et, "Tcb.ApcState.Process", g.addr("_EPROCESS", space, "Pcb"))
	g.set("_ETHREAD", et, "Tcb.State", 2)
	g.insertTail(g.addr("_EPROCESS", ep, "ThreadListHead"), g.addr("_ETHREAD", et, "ThreadListEntry"))
	return et
}

// kpcr makes a KPCR whose current thread is et.
func (g *guest) kpcr(et uint64) uint64 {
	pcr := g.alloc("_KPCR")
	g.set("_KPCR", pcr, "Self", pcr)
	g.set("_KPCR", pcr, "Prcb.CurrentThread", g.addr("_ETHREAD", et, "Tcb"))
	return pcr
}

func TestThreadsAndCurrent(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		sys := g.process(4, 0, 0x1000, "System")
		w := g.process(0x58, 0x48, 0x9000, "writer.exe")
		t1 := g.thread(w, w, 0x5c)
		t2 := g.thread(w, sys, 0x60) // attached to System
		pcr := g.kpcr(t2)
		k := g.kernel()
		p, _ := k.ProcessByPID(0x58)
		threads, err := k.Threads(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(threads) != 2 || threads[0].ETHREAD != t1 || threads[0].TID != 0x5c || threads[0].PID != 0x58 ||
			threads[0].Process != w || threads[0].Attached() || threads[1].TID != 0x60 || !threads[1].Attached() || threads[1].AddressSpace != sys {
			t.Fatalf("threads %+v", threads)
		}

		// In kernel mode GS holds the KPCR; in user mode KernelGSBase
		// does. A wrong base (a stop right around swapgs) is caught by
		// Self and the other one used.
		for name, regs := range map[string]fakeRegisters{
			"kernel":        {"cs": 0x10, "gs_base": pcr, "k_gs_base": 0x7ffdf000, "cr3": 0x1000},
			"user":          {"cs": 0x33, "gs_base": 0x7ffdf000, "k_gs_base": pcr, "cr3": 0x9000},
			"around swapgs": {"cs": 0x10, "gs_base": 0x7ffdf000, "k_gs_base": pcr, "cr3": 0x9000},
		} {
			c, err := k.Current(regs)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if c.KPCR != pcr || c.Thread.ETHREAD != t2 || c.Process.PID != 0x58 || c.AddressSpace.PID != 4 || !c.Attached() {
				t.Errorf("%s: current %+v", name, c)
			}
		}
		if _, err := k.KPCR(fakeRegisters{"cs": 0x10, "gs_base": 0x7ffdf000, "k_gs_base": 0}); err == nil {
			t.Error("KPCR with no valid base: no error")
		}
	})
}

func TestThreadListCycle(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		w := g.process(0x58, 0x48, 0x9000, "writer.exe")
		a := g.thread(w, w, 0x5c)
		g.set("_ETHREAD", a, "ThreadListEntry.Flink", g.addr("_ETHREAD", a, "ThreadListEntry"))
		k := g.kernel()
		p, _ := k.ProcessByPID(0x58)
		if _, err := k.Threads(p); !errors.Is(err, ErrCycle) {
			t.Errorf("Threads on a self-linked entry: %v, want ErrCycle", err)
		}
	})
}

func TestDrivers(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		head := g.global("PsLoadedModuleList")
		g.initList(head)
		for _, m := range []struct {
			name string
			base uint64
		}{{"ntoskrnl.exe", testKernelBase}, {"hal.dll", 0xfffff80100000000}} {
			e := g.alloc("_KLDR_DATA_TABLE_ENTRY")
			g.set("_KLDR_DATA_TABLE_ENTRY", e, "DllBase", m.base)
			g.set("_KLDR_DATA_TABLE_ENTRY", e, "SizeOfImage", 0x10000)
			g.unicode(g.addr("_KLDR_DATA_TABLE_ENTRY", e, "BaseDllName"), m.name)
			g.unicode(g.addr("_KLDR_DATA_TABLE_ENTRY", e, "FullDllName"), `\SystemRoot\system32\`+m.name)
			g.insertTail(head, g.addr("_KLDR_DATA_TABLE_ENTRY", e, "InLoadOrderLinks"))
		}
		k := g.kernel()
		mods, err := k.Drivers()
		if err != nil {
			t.Fatal(err)
		}
		if len(mods) != 2 || mods[0].Name != "ntoskrnl.exe" || mods[1].Name != "hal.dll" || mods[1].Base != 0xfffff80100000000 ||
			mods[1].Size != 0x10000 || mods[1].FullName != `\SystemRoot\system32\hal.dll` {
			t.Fatalf("drivers %+v", mods)
		}
		if m, ok, err := k.DriverAt(0xfffff8010000fff0); !ok || err != nil || m.Name != "hal.dll" {
			t.Errorf("DriverAt = %v %v %v", m, ok, err)
		}
		if _, ok, _ := k.DriverAt(0xfffff80100010000); ok {
			t.Error("DriverAt one past hal.dll found it")
		}
	})
}

func TestUnicodeStringBounds(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		us := g.alloc("_UNICODE_STRING")
		g.unicode(us, `\??\C:\pagefile.sys`)
		k := g.kernel()
		if s, err := k.UnicodeString(0, us); err != nil || s != `\??\C:\pagefile.sys` {
			t.Fatalf("UnicodeString = %q, %v", s, err)
		}
		for _, c := range []struct{ length, max uint64 }{{3, 10}, {12, 10}, {0xfffe, 0xffff}} {
			g.set("_UNICODE_STRING", us, "Length", c.length)
			g.set("_UNICODE_STRING", us, "MaximumLength", c.max)
			k.limits.String = 0x1000
			if _, err := k.UnicodeString(0, us); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Length %d MaximumLength %d: %v, want ErrCorrupt", c.length, c.max, err)
			}
		}
	})
}

func TestPagingFiles(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, g *guest) {
		part := g.global("MiSystemPartition")
		g.mem.write(part, make([]byte, 0x200))
		for i, name := range []string{`\??\C:\pagefile.sys`, `\??\C:\pagefile2.sys`} {
			pf := g.alloc("_MMPAGING_FILE")
			g.set("_MMPAGING_FILE", pf, "PageFileNumber", uint64(i))
			g.set("_MMPAGING_FILE", pf, "VirtualStorePagefile", uint64(i))
			g.set("_MMPAGING_FILE", pf, "Size", 512)
			g.unicode(g.addr("_MMPAGING_FILE", pf, "PageFileName"), name)
			g.mem.write(g.addr("_MI_PARTITION", part, "Vp.PagingFile")+8*uint64(i), le(pf))
		}
		g.set("_MI_PARTITION", part, "Vp.NumberOfPagingFiles", 2)
		k := g.kernel()
		pfs, err := k.PagingFiles()
		if err != nil {
			t.Fatal(err)
		}
		if len(pfs) != 2 || pfs[0].Name != `\??\C:\pagefile.sys` || pfs[0].Number != 0 || pfs[0].VirtualStore ||
			pfs[1].Number != 1 || !pfs[1].VirtualStore || pfs[1].Size != 512 {
			t.Fatalf("paging files %+v", pfs)
		}
		m, err := k.PagefileMap(nil)
		if err != nil || len(m) != 2 || m[0].Data != nil || !m[1].VirtualStore {
			t.Errorf("PagefileMap = %+v, %v", m, err)
		}
		g.set("_MI_PARTITION", part, "Vp.NumberOfPagingFiles", 17)
		if _, err := k.PagingFiles(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("17 paging files in an array of 16: %v, want ErrCorrupt", err)
		}
	})
}

// TestSyscallArgs: at NtWriteFile's first instruction, arguments 1-4 are
// in registers and n ≥ 5 at [rsp+8n], read through CR3; Length keeps the
// low 32 bits of its slot, as the kernel reads a ULONG.
func TestSyscallArgs(t *testing.T) {
	g := newGuest(t, false)
	rsp := uint64(0xffffa00000800f00)
	stack := make([]byte, 0x100)
	put := func(off, v uint64) { copy(stack[off:], le(v)) }
	put(0x28, 0x1111)             // IoStatusBlock
	put(0x30, 0x2000)             // Buffer
	put(0x38, 0xa5a5a5a500000029) // Length, garbage above
	put(0x40, 0)                  // ByteOffset
	put(0x48, 0x9999)             // Key
	g.mem.write(rsp, stack)
	k := g.kernel()
	regs := fakeRegisters{"rcx": 0x4b8, "rdx": 0, "r8": 0, "r9": 0, "rsp": rsp, "cr3": 0x9000}
	a, err := k.NtWriteFile(regs)
	if err != nil {
		t.Fatal(err)
	}
	if a != (NtWriteFileArgs{FileHandle: 0x4b8, Buffer: 0x2000, Length: 0x29, ByteOffset: 0}) {
		t.Errorf("NtWriteFile = %+v", a)
	}
	args, err := k.SyscallArgs(regs, 9)
	if err != nil || len(args) != 9 || args[4] != 0x1111 || args[8] != 0x9999 {
		t.Errorf("SyscallArgs = %#x, %v", args, err)
	}
	if _, ok, err := k.ByteOffsetValue(regs, a); ok || err != nil {
		t.Errorf("ByteOffsetValue without one: %v %v", ok, err)
	}
	for _, n := range []int{0, MaxSyscallArgs + 1} {
		if _, err := k.SyscallArg(regs, n); err == nil {
			t.Errorf("SyscallArg(%d): no error", n)
		}
	}
	// A stack that does not translate is a *ReadError, not zeros.
	regs["rsp"] = 0xffffb00000000000
	var re *ReadError
	if _, err := k.SyscallArg(regs, 6); !errors.As(err, &re) {
		t.Errorf("unreadable stack: %v, want a *ReadError", err)
	}
}
