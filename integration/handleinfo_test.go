package integration

import (
	"testing"

	"github.com/frostvmi/frost/nt"
)

// TestSystemHandlesAgainstReport compares every process's handle table as
// Frost's nt reads it (through the PDB: _HANDLE_TABLE, the entries'
// ObjectPointerBits and GrantedAccessBits, the object headers' encoded
// TypeIndex) with the system's handle list smss printed from
// NtQuerySystemInformation(SystemExtendedHandleInformation), whose
// records the kernel's ObpCaptureHandleInformationEx decodes the Windows 10
// way (an arithmetic shift of the entry), on the normal, reorder and assign
// builds. Nothing opens or closes a handle after writer.exe's start, so the
// list at `ready` is the one in memory.
func TestSystemHandlesAgainstReport(t *testing.T) {
	eachBuild(t, 121, func(t *testing.T, ka *kernelAt) {
		want, err := ka.rep.SystemHandles()
		if err != nil {
			t.Fatal(err)
		}
		byPID := map[uint64]map[uint64]nt.Handle{}
		for _, w := range want {
			if byPID[w.PID] != nil {
				continue
			}
			p, err := ka.k.ProcessByPID(w.PID)
			if err != nil {
				t.Fatalf("pid %d: %v", w.PID, err)
			}
			hs, err := ka.k.Handles(p)
			if err != nil {
				t.Fatalf("pid %d: handles: %v", w.PID, err)
			}
			byPID[w.PID] = map[uint64]nt.Handle{}
			for _, h := range hs {
				byPID[w.PID][h.Value] = h
			}
		}
		total := 0
		for _, hs := range byPID {
			total += len(hs)
		}
		if total != len(want) {
			t.Errorf("Frost reads %d handles in the tables of pids %v, the guest listed %d", total, keys(byPID), len(want))
		}
		types := map[string]bool{}
		for _, w := range want {
			g, ok := byPID[w.PID][w.Handle]
			if !ok {
				t.Errorf("pid %d handle %#x: listed by the guest, not read by Frost", w.PID, w.Handle)
				continue
			}
			if g.Body != w.Object || g.TypeIndex != w.TypeIndex || g.GrantedAccess != w.Access {
				t.Errorf("pid %d handle %#x: Frost read %s at %#x (type %d) access %#x, the guest listed %#x (type %d) access %#x",
					w.PID, w.Handle, g.Type, g.Body, g.TypeIndex, g.GrantedAccess, w.Object, w.TypeIndex, w.Access)
			}
			types[g.Type] = true
		}
		// writer.exe's file and mutant, smss's children's process and thread
		// handles, and writer's events are all among them.
		for _, ty := range []string{"File", "Mutant", "Process", "Thread", "Event"} {
			if !types[ty] {
				t.Errorf("no %s handle among the guest's %d (types %v)", ty, len(want), types)
			}
		}
	})
}

func keys[V any](m map[uint64]V) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}
