// Package python holds the Python client example; its test runs the
// example, a real and independent gRPC client, against a real frostd.
package python

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func need(t *testing.T, what, hint string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
		t.Fatalf("%s: %v (%s)", what, err, hint)
	}
	t.Skipf("%s: %v (%s)", what, err, hint)
}

// TestPythonClient generates the Python modules, starts frostd and runs
// the example against a VM it does not hold, which checks that the client
// reaches frostd and decodes its status and ErrorDetail. The run against
// an attached mini-NT (listing and read) belongs with the end-to-end tests
// on libvirt.
func TestPythonClient(t *testing.T) {
	_, err := exec.LookPath("grpc_python_plugin")
	need(t, "grpc_python_plugin", "Debian's protobuf-compiler-grpc; make deps", err)
	need(t, "python3-grpcio", "Debian's python3-grpcio; make deps", exec.Command("/usr/bin/python3", "-c", "import grpc").Run())

	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	if out, err := exec.Command("./generate.sh", gen).CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, out)
	}
	frostd := filepath.Join(dir, "frostd")
	if out, err := exec.Command("go", "build", "-o", frostd, "github.com/frostvmi/frost/cmd/frostd").CombinedOutput(); err != nil {
		t.Fatalf("building frostd: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "frostd.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := exec.CommandContext(ctx, frostd, "--listen", sock, "--state-file", filepath.Join(dir, "state.json"),
		"--libvirt", filepath.Join(dir, "none.sock"), "--symbol-path", "")
	d.Stderr = os.Stderr
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	// Stop frostd before waiting for it (deferred calls run last first).
	defer func() { cancel(); d.Wait() }()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("frostd did not create its socket")
		}
		time.Sleep(100 * time.Millisecond)
	}

	out, err := exec.Command("/usr/bin/python3", "frost_client.py", "--gen", gen, "--socket", sock, "--vm", "mini-nt").CombinedOutput()
	if err == nil {
		t.Fatalf("the example succeeded against a VM frostd does not hold:\n%s", out)
	}
	for _, want := range []string{"FAILED_PRECONDITION", "ERROR_REASON_VM_NOT_ATTACHED", "'vm': 'mini-nt'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("example output lacks %q:\n%s", want, out)
		}
	}
}
