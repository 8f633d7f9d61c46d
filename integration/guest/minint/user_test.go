package minint

import (
	"strings"
	"testing"
)

// userReport is what mini-NT prints for writer.exe (trimmed to one
// process, lines as the kernel writes them).
const userReport = `frost-guest: process pid=88 name=writer.exe dtb=0x33a000 parent=72
frost-guest: peb pid=88 peb=0x7ffdf000 ldr=0x30000 params=0x20000 image-base=0x140000000 modules=3 image="C:\Windows\System32\writer.exe" cmdline="C:\Windows\System32\writer.exe C:\frost\log.txt" cwd="C:\Windows\System32\"
frost-guest: ldr-module pid=88 index=0 base=0x140000000 size=0x4000 entry=0x140001000 name=writer.exe full="C:\Windows\System32\writer.exe"
frost-guest: ldr-module pid=88 index=1 base=0x7ffb40000000 size=0x4000 entry=0x0 name=ntdll.dll full="C:\Windows\System32\ntdll.dll"
frost-guest: ldr-module pid=88 index=2 base=0x7ffb30000000 size=0x4000 entry=0x7ffb30001710 name=frostrt.dll full="C:\Windows\System32\frostrt.dll"
frost-guest: environment pid=88 address=0x201f0 size=0x7e
frost-guest: env pid=88 name="Path" value="C:\Windows\System32"
frost-guest: env pid=88 name="SystemDrive" value="C:"
frost-guest: teb pid=88 tid=92 teb=0x7ffde000 stack-base=0x10010000 stack-limit=0x10000000
`

func TestUserProcesses(t *testing.T) {
	rep, err := ParseReport(strings.NewReader(userReport))
	if err != nil {
		t.Fatal(err)
	}
	procs, err := rep.UserProcesses()
	if err != nil {
		t.Fatal(err)
	}
	p := procs[88]
	if p == nil || len(procs) != 1 {
		t.Fatalf("UserProcesses = %v", procs)
	}
	if p.PEB != 0x7ffdf000 || p.Ldr != 0x30000 || p.Params != 0x20000 || p.ImageBase != 0x140000000 ||
		p.Image != `C:\Windows\System32\writer.exe` || p.CommandLine != `C:\Windows\System32\writer.exe C:\frost\log.txt` ||
		p.CurDir != `C:\Windows\System32\` || p.EnvironmentAddress != 0x201f0 || p.EnvironmentSize != 0x7e {
		t.Errorf("process = %+v", p)
	}
	if len(p.Modules) != 3 || p.Modules[1] != (LdrModule{Base: 0x7ffb40000000, Size: 0x4000, Name: "ntdll.dll", FullName: `C:\Windows\System32\ntdll.dll`}) ||
		p.Modules[2].Entry != 0x7ffb30001710 {
		t.Errorf("modules = %+v", p.Modules)
	}
	if len(p.Environment) != 2 || p.Environment[1] != (EnvVar{"SystemDrive", "C:"}) {
		t.Errorf("environment = %+v", p.Environment)
	}
	if len(p.TEBs) != 1 || p.TEBs[0] != (TEB{TID: 92, Address: 0x7ffde000, StackBase: 0x10010000, StackLimit: 0x10000000}) {
		t.Errorf("TEBs = %+v", p.TEBs)
	}
}

func TestUserProcessesRejects(t *testing.T) {
	for name, edit := range map[string]func(string) string{
		"module out of order": func(s string) string { return strings.Replace(s, "index=2", "index=5", 1) },
		"module count":        func(s string) string { return strings.Replace(s, "modules=3", "modules=4", 1) },
		"no peb": func(s string) string {
			return strings.Replace(s, "frost-guest: peb pid=88", "frost-guest: peb pid=89", 1)
		},
		"bad number": func(s string) string { return strings.Replace(s, "teb=0x7ffde000", "teb=0xzz", 1) },
		"second peb": func(s string) string {
			return s + "frost-guest: peb pid=88 peb=0x1 ldr=0x1 params=0x1 image-base=0x1 modules=0\n"
		},
	} {
		rep, err := ParseReport(strings.NewReader(edit(userReport)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := rep.UserProcesses(); err == nil {
			t.Errorf("%s: UserProcesses succeeded", name)
		}
	}
}
