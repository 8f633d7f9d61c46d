package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostvmi/frost/integration/guest/disk"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/vmi"
)

// TestPEBAgainstReport (issue 15.6): every user process's PEB loader
// lists, process parameters and TEB, read by nt through the PDB of each
// kernel build at ready (when much of that user memory has been trimmed
// and paged out), against what the kernel reported when it built them.
func TestPEBAgainstReport(t *testing.T) {
	eachBuild(t, 61, func(t *testing.T, ka *kernelAt) {
		checkUserProcesses(t, ka)
		checkProcessImages(t, ka)
	})
}

// checkProcessImages: ldrmodules' cross-check of every user process. Each
// DLL is in all three loader lists and mapped by an image view of its
// file, with the RSDS identity of its own PDB read from its headers in
// the process (pages the trimmer left in transition or as prototype PTEs
// included); the exe is in the load and memory lists. swapper.exe maps
// frostimg.dll as a view the loader never saw: an image no list names.
func checkProcessImages(t *testing.T, ka *kernelAt) {
	users, err := ka.rep.UserProcesses()
	if err != nil {
		t.Fatal(err)
	}
	sw, ok := ka.rep.First("swapper")
	if !ok {
		t.Fatal("no swapper event")
	}
	view, err := sw.Uint("image-view")
	if err != nil {
		t.Fatal(err)
	}
	// Image headers the trimmer dropped are read back from their files,
	// as frostd serves them from a VM's data directory.
	tr, err := ka.k.NewTranslator(nt.TranslatorOptions{Physical: vmi.ReaderAt(ka.tgt), Pagefiles: ka.pagefile,
		Files: ka.k.Files(ka.fileDir(t, disk.SystemDir+"ntdll.dll", disk.SystemDir+"frostrt.dll", frostimg))})
	if err != nil {
		t.Fatal(err)
	}
	ka.k.SetMemory(nt.TranslatorMemory{T: tr})
	for pid := range users {
		p, err := ka.k.ProcessByPID(pid)
		if err != nil {
			t.Errorf("pid %d: %v", pid, err)
			continue
		}
		imgs, err := ka.k.ProcessImages(p)
		if err != nil {
			t.Errorf("%s: ProcessImages: %v", p.Name, err)
			continue
		}
		unlisted := 0
		for _, m := range imgs {
			desc := fmt.Sprintf("%s %#x+%#x lists %v/%v/%v view %v %q pdb %v (%v)", m.Name, m.Base, m.Size, m.InLoad, m.InMemory, m.InInit, m.ImageVAD, m.MappedFile, m.PDB, m.PDBErr)
			pdb := strings.TrimSuffix(strings.ToLower(m.Name), filepath.Ext(m.Name)) + ".pdb"
			switch {
			case m.Name == p.Name:
				if !m.InLoad || !m.InMemory || m.InInit {
					t.Errorf("%s: the exe %s, want it in the load and memory lists only", p.Name, desc)
				}
			case m.InLoad:
				if !m.InMemory || !m.InInit || !m.ImageVAD || !strings.HasSuffix(strings.ToLower(m.MappedFile), strings.ToLower(m.Name)) ||
					m.PDBErr != nil || m.PDB.PDBName != pdb {
					t.Errorf("%s: DLL %s, want all three lists, a view of its file and %s", p.Name, desc, pdb)
				}
			default:
				unlisted++
				if p.Name != "swapper.exe" || m.Base != view || !m.ImageVAD || m.InMemory || m.InInit ||
					!strings.HasSuffix(strings.ToLower(m.MappedFile), "frostimg.dll") || m.PDBErr != nil || m.PDB.PDBName != "frostimg.pdb" {
					t.Errorf("%s: an image no list names: %s (swapper's frostimg.dll view is at %#x)", p.Name, desc, view)
				}
			}
		}
		if want := map[bool]int{true: 1, false: 0}[p.Name == "swapper.exe"]; unlisted != want {
			t.Errorf("%s: %d images no loader list names, want %d", p.Name, unlisted, want)
		}
	}
}

func checkUserProcesses(t *testing.T, ka *kernelAt) {
	want, err := ka.rep.UserProcesses()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 4 {
		t.Errorf("the report describes %d user processes, want smss, csrss, writer and swapper", len(want))
	}
	dlls := map[string][]string{
		"smss.exe": {"ntdll.dll"}, "csrss.exe": {"ntdll.dll"},
		"writer.exe": {"ntdll.dll", "frostrt.dll"}, "swapper.exe": {"ntdll.dll", "frostrt.dll"},
	}
	for pid, w := range want {
		p, err := ka.k.ProcessByPID(pid)
		if err != nil {
			t.Errorf("pid %d: %v", pid, err)
			continue
		}
		if p.Peb != w.PEB {
			t.Errorf("%s: EPROCESS.Peb %#x, the guest reported %#x", p.Name, p.Peb, w.PEB)
		}

		mods, err := ka.k.ProcessModules(p)
		if err != nil {
			t.Errorf("%s: ProcessModules: %v", p.Name, err)
			continue
		}
		if len(mods) != len(w.Modules) {
			t.Errorf("%s: %d modules %v, the guest reported %d", p.Name, len(mods), mods, len(w.Modules))
			continue
		}
		for i, m := range mods {
			r := w.Modules[i]
			if m.Base != r.Base || m.Size != r.Size || m.EntryPoint != r.Entry || m.Name != r.Name || m.FullName != r.FullName {
				t.Errorf("%s: module %d = %+v, the guest reported %+v", p.Name, i, m, r)
			}
		}
		if mods[0].Name != p.Name {
			t.Errorf("%s: the first module in load order is %s, want the exe", p.Name, mods[0].Name)
		}
		var gotDLLs []string
		for _, m := range mods[1:] {
			gotDLLs = append(gotDLLs, m.Name)
		}
		if !equalStrings(gotDLLs, dlls[p.Name]) {
			t.Errorf("%s: DLLs %v, want %v", p.Name, gotDLLs, dlls[p.Name])
		}
		// The other two lists: the same modules in memory order; the DLLs
		// alone, ntdll first, in initialization order.
		if mem, err := ka.k.ProcessModulesIn(p, nt.MemoryOrder); err != nil || len(mem) != len(mods) || mem[0] != mods[0] {
			t.Errorf("%s: memory order %v, %v", p.Name, mem, err)
		}
		if ini, err := ka.k.ProcessModulesIn(p, nt.InitializationOrder); err != nil || len(ini) != len(mods)-1 || ini[0].Name != "ntdll.dll" {
			t.Errorf("%s: initialization order %v, %v", p.Name, ini, err)
		}
		// Each DLL is an image view whose VAD names its file.
		for _, m := range mods[1:] {
			v, ok, err := ka.k.FindVADIn(p, m.Base)
			if err != nil || !ok || v.Start != m.Base || v.Private || v.Subsection == 0 {
				t.Errorf("%s: the VAD of %s is %+v (found %v, %v), want an image view", p.Name, m.Name, v, ok, err)
				continue
			}
			if file, err := ka.k.SubsectionFileName(v.Subsection); err != nil || file != `\Windows\System32\`+m.Name {
				t.Errorf("%s: the view of %s maps %q (%v)", p.Name, m.Name, file, err)
			}
		}

		pp, err := ka.k.ProcessParameters(p)
		if err != nil {
			t.Errorf("%s: ProcessParameters: %v", p.Name, err)
		} else {
			if pp.Address != w.Params || pp.ImageBase != w.ImageBase || pp.ImagePath != w.Image ||
				pp.CommandLine != w.CommandLine || pp.CurrentDirectory != w.CurDir || pp.EnvironmentAddress != w.EnvironmentAddress {
				t.Errorf("%s: parameters %+v, the guest reported %+v", p.Name, pp, w)
			}
			if len(pp.Environment) != len(w.Environment) {
				t.Errorf("%s: environment %q, the guest reported %+v", p.Name, pp.Environment, w.Environment)
			}
			for _, v := range w.Environment {
				if got, ok := pp.Getenv(v.Name); !ok || got != v.Value {
					t.Errorf("%s: %s=%q (%v), the guest reported %q", p.Name, v.Name, got, ok, v.Value)
				}
			}
		}

		threads, err := ka.k.Threads(p)
		if err != nil || len(threads) != len(w.TEBs) {
			t.Errorf("%s: threads %v, %v; the guest reported %d TEBs", p.Name, threads, err, len(w.TEBs))
			continue
		}
		for i, th := range threads {
			r := w.TEBs[i]
			if th.TID != r.TID || th.Teb != r.Address {
				t.Errorf("%s: thread %d TEB %#x, the guest reported tid %d TEB %#x", p.Name, th.TID, th.Teb, r.TID, r.Address)
				continue
			}
			teb, err := ka.k.TEB(p, th.Teb)
			wantTEB := nt.TEBInfo{Address: r.Address, Self: r.Address, StackBase: r.StackBase, StackLimit: r.StackLimit, PEB: w.PEB, PID: pid, TID: r.TID}
			if err != nil || teb != wantTEB {
				t.Errorf("%s: TEB %+v, %v; want %+v", p.Name, teb, err, wantTEB)
			}
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
