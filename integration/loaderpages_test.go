package integration

import (
	"testing"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/translate"
)

// TestModuleHeadersReadInProcess checks, for every module of every user
// process's loader lists (the report's ldr-module events), that the page
// holding its headers was read in that process, as Windows' loader reads
// each module's headers in the process it starts: the process's own PTE
// for the module's base is no longer the zero PTE a never-touched view
// keeps (it is valid, or, once trimmed, in transition, a prototype-PTE
// pointer or in the paging file), and the headers read "MZ" through
// Frost's translator. Before mini-NT's loader check (ntos/ldrinit.c) every
// DLL's header PTE was 0 in smss, csrss and writer, and a VAD-walking tool
// found no image at a DLL view's start.
//
// It also checks the sizes Windows' pool scanners rely on: a process's
// pool block is at least 600 bytes and a driver's 248 (Windows 10's
// _EPROCESS alone is 0xa40 bytes).
func TestModuleHeadersReadInProcess(t *testing.T) {
	requireGuest(t)
	m, _, _ := bootToReady(t, minint.Config{Seed: minint.Seed(131), PagingFiles: []string{pagefile}})
	ka := openKernel(t, m)
	tr := ka.translator(t, true)
	mods := ka.rep.All("ldr-module")
	if len(mods) == 0 {
		t.Fatal("the guest reported no ldr-module events")
	}
	for _, e := range mods {
		pid, base := uintField(t, e, "pid"), uintField(t, e, "base")
		p, err := ka.k.ProcessByPID(pid)
		if err != nil {
			t.Fatalf("pid %d: %v", pid, err)
		}
		prov := tr.Vtop(p.DTB, base)
		var pte *translate.Step
		for i := range prov.Steps {
			if s := &prov.Steps[i]; s.Depth == 0 && s.Level == translate.LevelPTE {
				pte = s
			}
		}
		if pte == nil || pte.Value == 0 {
			t.Errorf("pid %d %s at %#x: the process's PTE is 0 (never read in the process):\n%v", pid, e.Get("name"), base, prov)
			continue
		}
		hdr := make([]byte, 2)
		r := tr.ReadVirtual(p.DTB, base, hdr)
		if err := r.Err(); err != nil || string(hdr) != "MZ" {
			t.Errorf("pid %d %s at %#x: read %q (%v), want MZ", pid, e.Get("name"), base, hdr, err)
		}
	}

	objs, err := ka.rep.PoolObjects()
	if err != nil {
		t.Fatal(err)
	}
	minBlock := map[string]uint64{"Process": 600, "Driver": 248}
	seen := map[string]int{}
	for _, o := range objs {
		if want, ok := minBlock[o.Type]; ok {
			seen[o.Type]++
			if o.BlockSize < want {
				t.Errorf("%s at %#x: a %d-byte pool block, want at least %d", o.Type, o.Object, o.BlockSize, want)
			}
		}
	}
	if seen["Process"] == 0 || seen["Driver"] == 0 {
		t.Errorf("pool blocks checked: %v, want processes and a driver", seen)
	}
}
