package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// checkPythonClient runs the Python example (examples/python), a real and
// independent gRPC client, against the attached mini-NT: the process list,
// writer.exe's DLLs with their loader lists and views, and a read of its
// memory. TestPythonClient covers its error path without a guest.
func checkPythonClient(t *testing.T, sock, vm string) {
	t.Helper()
	if _, err := exec.LookPath("grpc_python_plugin"); err != nil {
		unavailable(t, "grpc_python_plugin not found (Debian's protobuf-compiler-grpc; make deps)")
	}
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "python"))
	if err != nil {
		t.Fatal(err)
	}
	gen := t.TempDir()
	gs := exec.Command("./generate.sh", gen)
	gs.Dir = example
	if out, err := gs.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	cmd := exec.Command("/usr/bin/python3", "frost_client.py", "--gen", gen, "--socket", sock, "--vm", vm, "--process", "writer.exe", "--stack-at", "nt!NtWriteFile")
	cmd.Dir = example
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("frost_client.py: %v\n%s", err, out)
	}
	t.Logf("frost_client.py:\n%s", out)
	text := string(out)
	for _, want := range []string{"swapper.exe", "writer.exe (pid", "modules:"} {
		if !strings.Contains(text, want) {
			t.Errorf("the example's output lacks %q", want)
		}
	}
	// Both DLLs in all three lists and mapped by a view: "yes" four times.
	for _, dll := range []string{"ntdll.dll", "frostrt.dll"} {
		ok := false
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) >= 7 && f[2] == dll && f[3] == "yes" && f[4] == "yes" && f[5] == "yes" && f[6] == "yes" {
				ok = true
			}
		}
		if !ok {
			t.Errorf("the example does not list %s in every loader list with its view", dll)
		}
	}
	if !strings.Contains(text, "writer.exe (pid") || !strings.Contains(text, " at 0x") {
		t.Errorf("the example read no memory")
	}
	checkPythonLocalMemory(t, example, gen, sock, vm)
	// The stack at writer's NtWriteFile: the service, the system call's
	// machine frame into ntdll's stub, frostrt and writer, each from its
	// PDB.
	for _, want := range []string{"stack at nt!NtWriteFile in writer.exe", " nt!NtWriteFile ", "ntdll!NtWriteFile+", "machine_frame",
		"frostrt!FrostWriteMessage+", "writer!NtProcessStartup+"} {
		if !strings.Contains(text, want) {
			t.Errorf("the example's stack lacks %q", want)
		}
	}
}

// checkPythonLocalMemory runs the example's read of a page of writer.exe
// that frostd finds valid, with the guest paused so both reads see the
// same bytes: on frostd's host it maps guest RAM from the side socket,
// serves the page from the mapping without a call, and its bytes are
// frostd's; with --no-local it reads over gRPC only.
func checkPythonLocalMemory(t *testing.T, example, gen, sock, vm string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cc := dialUnix(t, sock)
	cpu := pb.NewCPUServiceClient(cc)
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: vm, Lease: durationpb.New(3 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	defer cpu.Resume(context.WithoutCancel(ctx), &pb.ResumeRequest{Vm: vm})
	pid := pidOf(ctx, t, cc, vm, "writer.exe")
	valid := validPages(ctx, t, cc, vm, pid)
	if len(valid) == 0 {
		t.Fatal("no valid page in writer's or the kernel's images")
	}
	run := func(extra ...string) string {
		args := append([]string{"frost_client.py", "--gen", gen, "--socket", sock, "--vm", vm, "--process", "writer.exe",
			"--address", fmt.Sprintf("%#x", valid[0]), "--length", "4096", "--compare", "--no-hexdump"}, extra...)
		cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
		cmd.Dir = example
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("frost_client.py %v: %v\n%s", extra, err, out)
		}
		return string(out)
	}
	local := run()
	t.Logf("frost_client.py, local:\n%s", local[strings.Index(local, "local memory:"):])
	for _, want := range []string{"local memory: shared RAM file of", "1 page(s) from the mapping, 0 call(s) to frostd", "same bytes as frostd's ReadVirtual: yes"} {
		if !strings.Contains(local, want) {
			t.Errorf("the local read's output lacks %q", want)
		}
	}
	remote := run("--no-local")
	for _, want := range []string{"local memory: not used (local memory turned off)", "0 page(s) from the mapping, 1 call(s) to frostd", "same bytes as frostd's ReadVirtual: yes"} {
		if !strings.Contains(remote, want) {
			t.Errorf("the --no-local read's output lacks %q:\n%s", want, remote)
		}
	}
}
