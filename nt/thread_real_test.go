package nt

import "testing"

// TestRealISFCurrentAttached: at a stop in user mode the KPCR waits in
// KernelGSBase, and a thread attached to another process
// (KeStackAttachProcess: ApcState.Process is not its own) reports both
// processes. mini-NT never attaches a thread, and where its vCPU stops is
// not chosen. Windows 10's _KPCR, _KPRCB, _KTHREAD and _ETHREAD.
func TestRealISFCurrentAttached(t *testing.T) {
	g := newRealGuest(t)
	sys := g.process(4, 0, 0x1ad000, "System")
	lsass := g.process(0x2c8, 0x1f0, 0x5a000, "lsass.exe")
	own := g.thread(lsass, lsass, 0x2cc)
	attached := g.thread(lsass, sys, 0x2d0)
	g.set("_ETHREAD", attached, "Tcb.Teb", 0x7ff7aa000000)
	g.set("_ETHREAD", attached, "Win32StartAddress", 0x7ff7a1231000)
	pcr := g.kpcr(attached)
	g.mem.write(g.global("PsInitialSystemProcess"), le(sys))

	k := g.kernel()
	for name, regs := range map[string]fakeRegisters{
		"user mode":     {"cs": 0x33, "gs_base": 0x7ff7aa000000, "k_gs_base": pcr, "cr3": 0x5b001},
		"kernel mode":   {"cs": 0x10, "gs_base": pcr, "k_gs_base": 0x7ff7aa000000, "cr3": 0x1ad002},
		"before swapgs": {"cs": 0x10, "gs_base": 0x7ff7aa000000, "k_gs_base": pcr, "cr3": 0x5b001},
	} {
		c, err := k.Current(regs)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.KPCR != pcr || c.Thread.ETHREAD != attached || c.Thread.TID != 0x2d0 || c.Thread.Teb != 0x7ff7aa000000 ||
			c.Thread.Win32StartAddress != 0x7ff7a1231000 || c.Process.EPROCESS != lsass || c.AddressSpace.EPROCESS != sys || !c.Attached() {
			t.Errorf("%s: %+v", name, c)
		}
		if kt, err := k.CurrentThread(regs); err != nil || kt != attached+g.addr("_ETHREAD", 0, "Tcb") {
			t.Errorf("%s: CurrentThread = %#x, %v", name, kt, err)
		}
	}
	p, _ := k.ProcessByPID(0x2c8)
	threads, err := k.Threads(p)
	if err != nil || len(threads) != 2 || threads[0].ETHREAD != own || threads[0].Attached() || !threads[1].Attached() || threads[1].AddressSpace != sys {
		t.Errorf("threads %+v, %v", threads, err)
	}
	if dtb, err := k.systemDTB(); err != nil || dtb != 0x1ad000 {
		t.Errorf("systemDTB = %#x, %v", dtb, err)
	}
}

// TestRealISFDrivers: PsLoadedModuleList on Windows 10's
// _KLDR_DATA_TABLE_ENTRY.
func TestRealISFDrivers(t *testing.T) {
	g := newRealGuest(t)
	head := g.global("PsLoadedModuleList")
	for _, m := range []struct {
		name       string
		base, size uint64
	}{
		{"ntoskrnl.exe", testKernelBase, 0xa46000},
		{"hal.dll", testKernelBase + 0xa46000, 0x6000},
		{"volmgr.sys", 0xfffff80012340000, 0x19000},
	} {
		e := g.alloc("_KLDR_DATA_TABLE_ENTRY")
		g.set("_KLDR_DATA_TABLE_ENTRY", e, "DllBase", m.base)
		g.set("_KLDR_DATA_TABLE_ENTRY", e, "SizeOfImage", m.size)
		g.unicode(g.addr("_KLDR_DATA_TABLE_ENTRY", e, "BaseDllName"), m.name)
		g.unicode(g.addr("_KLDR_DATA_TABLE_ENTRY", e, "FullDllName"), `\SystemRoot\system32\`+m.name)
		g.insertTail(head, g.addr("_KLDR_DATA_TABLE_ENTRY", e, "InLoadOrderLinks"))
	}
	k := g.kernel()
	m, ok, err := k.DriverAt(0xfffff80012340000 + 0x1234)
	if err != nil || !ok || m.Name != "volmgr.sys" || m.FullName != `\SystemRoot\system32\volmgr.sys` || m.Size != 0x19000 {
		t.Errorf("DriverAt = %v, %v, %v", m, ok, err)
	}
	mods, err := k.Drivers()
	if err != nil || len(mods) != 3 || mods[0].Name != "ntoskrnl.exe" || mods[1].Base != testKernelBase+0xa46000 {
		t.Errorf("Drivers = %v, %v", mods, err)
	}
}
