package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

// cmdCase is one run of the built frostctl. rpc is the call it must reach
// the server with ("" for a command that must not call it); code is the exit code; a run that succeeds prints
// every string of want on stdout, and one that fails (code 1) prints them
// on stderr, after the server failed rpc with serverCode (so the error is
// frostd's, never frostctl's own flag checks).
type cmdCase struct {
	name       string // "command" or "command subcommand"
	args       []string
	env        []string
	rpc        string
	code       int
	serverCode codes.Code
	want       []string
	// interrupt: the command streams until ^C (events on a guest that
	// needs no kernel for it); it gets SIGINT once the server serves its
	// call, and exits 0.
	interrupt bool
}

// TestEveryCommandRunsAgainstFrostd runs every command and subcommand of
// frostctl's table (register, subcommands), built as a binary, against
// the real API server. A command added without a case here fails the
// test, so a command that cannot run never lands (issue 12, item 3: every
// symbols subcommand failed on its own flag check, with --vm, $FROST_VM
// or --pdb given).
func TestEveryCommandRunsAgainstFrostd(t *testing.T) {
	bin := buildFrostctl(t)
	d := startFrostd(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "not.pdb")
	if err := os.WriteFile(junk, []byte("this is not a PDB file at all, only text"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Windows-only calls on a guest that is not Windows (the fake) fail
	// in frostd, finding the kernel: frostd's error, not frostctl's.
	noKernel := []string{"find", "kernel of win10"}
	vm := []string{"FROST_VM=win10"}
	cases := []cmdCase{
		{name: "vms", args: []string{"vms"}, rpc: "VMService/ListDomains", want: []string{"win10", "mini-nt", "scratch", "running"}},
		{name: "attach", args: []string{"attach", "scratch"}, rpc: "VMService/Attach", want: []string{"scratch", "Attached:", "yes"}},
		{name: "detach", args: []string{"detach", "--vm", "scratch"}, rpc: "VMService/Detach", want: []string{"detached scratch"}},
		{name: "state", args: []string{"state"}, env: vm, rpc: "VMService/GetVM", want: []string{"win10", "Guest:"}},
		// --find-kernel looks now; the fake guest has no register file, so
		// looking fails (a guest merely without Windows is not an error).
		{name: "state", args: []string{"state", "--find-kernel"}, env: vm, rpc: "VMService/GetVM", code: 1, serverCode: codes.Internal, want: noKernel},
		// launch is removed (frostd no longer launches the test guest): it
		// prints the demo tool's command with the same arguments, exit 2,
		// and never calls frostd (no rpc).
		{name: "launch", args: []string{"launch", "demo", "--paging-file", `C:\pagefile.sys`, "--paused"}, code: 2,
			want: []string{"removed", `minint define demo --paging-file 'C:\pagefile.sys' --paused`}},
		{name: "boot", args: []string{"boot", "mini-nt"}, rpc: "BootService/Boot", want: []string{"started paused", "attached before the first instruction", "running"}},
		{name: "boot", args: []string{"boot", "--status", "mini-nt"}, rpc: "BootService/WatchBoot", want: []string{"attached before the first instruction"}},
		{name: "boot", args: []string{"boot", "--status", "--follow", "mini-nt"}, rpc: "BootService/WatchBoot", want: []string{"attached before the first instruction", "Success:"}},
		{name: "pause", args: []string{"pause", "--vm", "win10"}, rpc: "CPUService/Pause", want: []string{"stopped: cpu 0, pause"}},
		{name: "resume", args: []string{"resume", "--vm", "win10"}, rpc: "CPUService/Resume", want: []string{"win10 running"}},
		{name: "step", args: []string{"step", "--vm", "win10"}, rpc: "CPUService/Step", want: []string{"stopped: cpu 0, step"}},
		// A running guest has no stack to show: frostd says to stop it.
		{name: "stack", args: []string{"stack", "--vm", "win10", "--max", "8"}, rpc: "CPUService/GetStack", code: 1, serverCode: codes.FailedPrecondition, want: []string{"the guest is running: stop it first"}},
		{name: "regs", args: []string{"regs"}, env: vm, rpc: "CPUService/GetRegisters", code: 1, serverCode: codes.Internal, want: []string{"reading registers of win10", string(errNoRegisterFile)}},
		{name: "ps", args: []string{"ps"}, env: vm, rpc: "ProcessService/ListProcesses", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "threads", args: []string{"threads", "--vm", "win10"}, rpc: "ProcessService/ListThreads", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "modules", args: []string{"modules", "--vm", "win10"}, rpc: "ProcessService/ListModules", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "modules", args: []string{"modules", "--vm", "win10", "--pid", "420"}, rpc: "ProcessService/ListModules", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "handles", args: []string{"handles", "--vm", "win10", "--pid", "4"}, rpc: "ProcessService/ListHandles", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "vads", args: []string{"vads", "--vm", "win10", "--pid", "4"}, rpc: "ProcessService/ListVads", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "read", args: []string{"read", "--vm", "win10", "--physical", "0x1000", "0x20"}, rpc: "MemoryService/ReadPhysical", want: []string{"00001000  4d 5a 90 00", "MZ..frost guest"}},
		{name: "vtop", args: []string{"vtop", "--vm", "win10", "--kernel", "fffff800`12345678"}, rpc: "MemoryService/Translate", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "vadmap", args: []string{"vadmap", "--vm", "win10", "--kernel", "fffff800`00000000", "fffff800`00010000"}, rpc: "MemoryService/VadMap", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "dump", args: []string{"dump", "--vm", "win10", "-o", filepath.Join(dir, "guest.elf")}, rpc: "MemoryService/GetPhysicalMap", want: []string{"guest.elf"}},
		{name: "dump", args: []string{"dump", "--vm", "win10", "--live", "-o", filepath.Join(dir, "live.elf")}, rpc: "MemoryService/GetPhysicalMap", want: []string{"live.elf", "smear"}},
		{name: "procdump", args: []string{"procdump", "--vm", "win10", "--pid", "420", "-o", filepath.Join(dir, "p.dmp")}, rpc: "DumpService/DumpProcess", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "moddump", args: []string{"moddump", "--vm", "win10", "--pid", "420", "--module", "frostrt.dll", "-o", filepath.Join(dir, "m.dll")}, rpc: "DumpService/DumpModule", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "break", args: []string{"break", "--vm", "win10", "nt!NtWriteFile"}, rpc: "BreakpointService/Subscribe", code: 1, serverCode: codes.Internal, want: noKernel},
		// A raw user address in one address space needs no kernel: it
		// arms and streams until ^C.
		{name: "break", args: []string{"break", "--vm", "win10", "--dtb", "1aa000", "0x401000"}, rpc: "BreakpointService/Subscribe", interrupt: true, want: []string{"subscribed"}},
		// events needs no Windows kernel (issue 14): it streams until ^C.
		{name: "events", args: []string{"events"}, env: vm, rpc: "BreakpointService/Subscribe", interrupt: true},
		{name: "breakpoints", args: []string{"breakpoints", "--vm", "win10"}, rpc: "BreakpointService/ListBreakpoints", want: []string{"Id", "Address", "Symbol"}},
		{name: "clear", args: []string{"clear", "--vm", "win10", "1"}, rpc: "BreakpointService/ClearBreakpoint", code: 1, serverCode: codes.NotFound, want: []string{"no breakpoint 1"}},
		{name: "monitor ntwritefile", args: []string{"monitor", "ntwritefile", "--vm", "win10", "--process", "writer.exe"}, rpc: "MonitorService/MonitorNtWriteFile", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "monitor network", args: []string{"monitor", "network", "--vm", "win10", "--filter", "udp and port 53", "-w", filepath.Join(dir, "cap.pcapng")}, rpc: "MonitorService/MonitorNetwork", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "monitor network", args: []string{"monitor", "network", "--vm", "win10", "--filter", "udp and"}, rpc: "MonitorService/MonitorNetwork", code: 1, serverCode: codes.InvalidArgument, want: []string{"filter", "expression ends"}},
		{name: "symbols resolve", args: []string{"symbols", "resolve", "nt!NtWriteFile", "--pdb", isfPDB}, rpc: "SymbolService/ResolveSymbol", want: []string{"nt!NtWriteFile = "}},
		{name: "symbols lookup", args: []string{"symbols", "--pdb", isfPDB, "lookup", "0"}, rpc: "SymbolService/LookupAddress", want: []string{"00000000 = "}},
		{name: "symbols field", args: []string{"symbols", "field", "_EPROCESS.UniqueProcessId", "--pdb", isfPDB}, rpc: "SymbolService/GetField", want: []string{"_EPROCESS.UniqueProcessId: +0x440 size 8"}},
		{name: "symbols type", args: []string{"symbols", "type", "_LIST_ENTRY", "--pdb", isfPDB}, rpc: "SymbolService/GetType", want: []string{"_LIST_ENTRY, size 0x10", "Flink", "Blink"}},
		{name: "symbols convert", args: []string{"symbols", "convert", junk, "-o", filepath.Join(dir, "out.json.xz")}, rpc: "SymbolService/ConvertPdb", code: 1, serverCode: codes.InvalidArgument, want: []string{"not a PDB"}},
		// The VM scopes of symbols, by flag and by $FROST_VM: they reach
		// frostd, which looks for the kernel of the fake guest.
		{name: "symbols resolve", args: []string{"symbols", "resolve", "nt!NtWriteFile", "--vm", "win10"}, rpc: "SymbolService/ResolveSymbol", code: 1, serverCode: codes.Internal, want: noKernel},
		{name: "symbols field", args: []string{"symbols", "field", "_EPROCESS.UniqueProcessId"}, env: vm, rpc: "SymbolService/GetField", code: 1, serverCode: codes.Internal, want: noKernel},
	}

	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.name] = true
	}
	for _, c := range commands {
		names := []string{c.name}
		if subs := subcommands[c.name]; len(subs) > 0 {
			names = nil
			for _, s := range subs {
				names = append(names, c.name+" "+s)
			}
		}
		for _, n := range names {
			if !covered[n] {
				t.Errorf("frostctl %s has no case in TestEveryCommandRunsAgainstFrostd: add one that runs it against the server", n)
			}
		}
	}

	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			d.calls.reset()
			var stdout, stderr string
			var code int
			if tc.interrupt {
				until := ""
				if len(tc.want) > 0 {
					until = tc.want[0]
				}
				stdout, stderr, code = runUntilServed(t, bin, tc.env, d, method(tc.rpc), until, append([]string{"--addr", d.sock}, tc.args...)...)
			} else {
				stdout, stderr, code = runBinary(t, bin, tc.env, append([]string{"--addr", d.sock}, tc.args...)...)
			}
			if code != tc.code {
				t.Fatalf("frostctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, stdout, stderr)
			}
			if tc.rpc == "" {
				if names := d.calls.names(); len(names) != 0 {
					t.Errorf("frostctl %s called the server: %v", strings.Join(tc.args, " "), names)
				}
				if !hasAll(stderr, tc.want...) {
					t.Errorf("frostctl %s: stderr lacks %q\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), tc.want, stdout, stderr)
				}
				return
			}
			served, st := d.calls.get(method(tc.rpc))
			if !served {
				t.Fatalf("frostctl %s never reached %s (the server saw %v)\nstderr:\n%s", strings.Join(tc.args, " "), tc.rpc, d.calls.names(), stderr)
			}
			out := stdout
			if tc.code != 0 {
				out = stderr
				if st.Code() != tc.serverCode {
					t.Errorf("the server answered %s with %s (%s), want %s", tc.rpc, st.Code(), st.Message(), tc.serverCode)
				}
				// frostctl prints the server's own message and code.
				if !hasAll(stderr, st.Message(), statusLine(st)) {
					t.Errorf("stderr does not carry the server's error %q:\n%s", st.Message(), stderr)
				}
			}
			t.Logf("$ frostctl %s\n%s%s", strings.Join(tc.args, " "), stdout, stderr)
			if !hasAll(out, tc.want...) {
				t.Errorf("frostctl %s: output lacks %q\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), tc.want, stdout, stderr)
			}
		})
	}
}

// A mistyped VM name is answered with the domains libvirt knows; a known
// domain that is not attached is told to attach it (issue 12, item 12).
func TestMistypedVMNamesTheDomains(t *testing.T) {
	bin := buildFrostctl(t)
	d := startFrostd(t)
	_, stderr, code := runBinary(t, bin, []string{"FROST_VM=win01"}, "--addr", d.sock, "ps")
	if code != 1 || !hasAll(stderr, `no domain named "win01"`, "mini-nt, scratch, win10", "[NotFound VM_NOT_FOUND") || strings.Contains(stderr, "attach it first") {
		t.Errorf("mistyped: exit %d, %s", code, stderr)
	}
	_, stderr, code = runBinary(t, bin, nil, "--addr", d.sock, "regs", "--vm", "scratch")
	if code != 1 || !hasAll(stderr, "VM scratch is not attached: attach it first", "[FailedPrecondition VM_NOT_ATTACHED") {
		t.Errorf("not attached: exit %d, %s", code, stderr)
	}
}
