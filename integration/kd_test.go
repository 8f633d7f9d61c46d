package integration

import (
	"encoding/binary"
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// TestDebuggerStructuresAgainstReport (issue 15.1, 15.2, 15.3, 15.5): on
// each kernel build, what Frost reads through the PDB of the KDBG, the
// shared user data page, the page-table self-map and KiServiceTable, at
// ready, against what the guest reported when it built them.
func TestDebuggerStructuresAgainstReport(t *testing.T) {
	eachBuild(t, 71, func(t *testing.T, ka *kernelAt) {
		checkDebuggerData(t, ka)
		checkSelfMap(t, ka)
		checkSharedUserData(t, ka)
		checkServiceTable(t, ka)
	})
}

func checkDebuggerData(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.DebuggerData()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ka.k.DebuggerData()
	if err != nil {
		t.Fatalf("DebuggerData: %v", err)
	}
	if got.Address != want.Address || got.Size != want.Size || got.KernBase != want.KernBase ||
		got.PsLoadedModuleList != want.PsLoadedModuleList || got.PsActiveProcessHead != want.PsActiveProcessHead ||
		got.MmPfnDatabase != want.MmPfnDatabase || got.PteBase != want.PteBase {
		t.Errorf("KDBG: Frost read %+v, the guest reported %+v", got, want)
	}
	// The block names the same globals the PDB does.
	for name, v := range map[string]uint64{"PsActiveProcessHead": got.PsActiveProcessHead,
		"PsLoadedModuleList": got.PsLoadedModuleList, "MmPfnDatabase": got.MmPfnDatabase} {
		if a, err := ka.k.Address(name); err != nil || a != v {
			t.Errorf("KDBG.%s = %#x, the PDB says %#x (%v)", name, v, a, err)
		}
	}
	if got.KernBase != ka.k.Base() {
		t.Errorf("KDBG.KernBase %#x, Frost found the kernel at %#x", got.KernBase, ka.k.Base())
	}
	lab := make([]byte, len(want.BuildLab))
	if err := ka.k.Memory().ReadVirtual(ka.k.DTB(), got.NtBuildLab, lab); err != nil || string(lab) != want.BuildLab {
		t.Errorf("NtBuildLab = %q (%v), want %q", lab, err, want.BuildLab)
	}
}

func checkSelfMap(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.SelfMap()
	if err != nil {
		t.Fatal(err)
	}
	sys, err := ka.k.ProcessByPID(4)
	if err != nil {
		t.Fatal(err)
	}
	if sys.DTB != want.SystemDTB {
		t.Errorf("System's DTB %#x, the guest reported %#x", sys.DTB, want.SystemDTB)
	}
	for _, global := range []struct {
		name string
		want uint64
	}{{"MmPteBase", want.PteBase}, {"MmPxeBase", want.PxeBase}} {
		va, err := ka.k.Address(global.name)
		if err != nil {
			t.Fatal(err)
		}
		if v := readU64(t, ka, sys.DTB, va); v != global.want {
			t.Errorf("%s = %#x, the guest reported %#x", global.name, v, global.want)
		}
	}
	// Every process's PML4, read through its own self-map, holds the
	// entry that names that PML4.
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		e := readU64(t, ka, p.DTB, want.PxeBase+want.Index*8)
		if e&1 == 0 || e&0x000FFFFFFFFFF000 != p.DTB&^0xfff || e&4 != 0 {
			t.Errorf("%s: self-map entry %#x, want a valid kernel-only entry naming %#x", p.Name, e, p.DTB)
		}
	}
}

func checkSharedUserData(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.SharedData()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ka.k.SharedUserData()
	if err != nil {
		t.Fatalf("SharedUserData: %v", err)
	}
	if got.NtMajorVersion != want.NtMajor || got.NtMinorVersion != want.NtMinor || got.NtBuildNumber != want.Build ||
		got.NtSystemRoot != want.SystemRoot || got.ActiveProcessorCount != want.Processors {
		t.Errorf("KUSER_SHARED_DATA: Frost read %+v, the guest reported %+v", got, want)
	}
	// The clock ran from phase 0 to ready: both times moved forward.
	if got.SystemTime <= want.SystemTime || got.InterruptTime == 0 || got.TickCount == 0 {
		t.Errorf("times: system %#x (phase 0: %#x), interrupt %#x, ticks %d", got.SystemTime, want.SystemTime,
			got.InterruptTime, got.TickCount)
	}
	// User mode's view is the same page.
	procs, err := ka.k.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.PID == 4 {
			continue
		}
		if v := readU64(t, ka, p.DTB, want.UserVA+0x260); v&0xffffffff != want.Build {
			t.Errorf("%s: NtBuildNumber at %#x reads %d", p.Name, want.UserVA+0x260, v&0xffffffff)
		}
	}
}

func checkServiceTable(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.ServiceTable()
	if err != nil {
		t.Fatal(err)
	}
	table, err := ka.k.Address("KiServiceTable")
	if err != nil || table != want.Address {
		t.Fatalf("KiServiceTable at %#x (%v), the guest reported %#x", table, err, want.Address)
	}
	raw := make([]byte, 4*len(want.Entries))
	if err := ka.k.Memory().ReadVirtual(ka.k.DTB(), table, raw); err != nil {
		t.Fatal(err)
	}
	for i, e := range want.Entries {
		entry := binary.LittleEndian.Uint32(raw[4*i:])
		if entry != e.Entry || minint.DecodeServiceEntry(table, entry) != e.Routine {
			t.Errorf("service %d: entry %#x, the guest reported %#x (routine %#x)", i, entry, e.Entry, e.Routine)
		}
	}
}

func readU64(t *testing.T, ka *kernelAt, dtb, va uint64) uint64 {
	t.Helper()
	var b [8]byte
	if err := ka.k.Memory().ReadVirtual(dtb, va, b[:]); err != nil {
		t.Fatalf("reading %#x in %#x: %v", va, dtb, err)
	}
	return binary.LittleEndian.Uint64(b[:])
}
