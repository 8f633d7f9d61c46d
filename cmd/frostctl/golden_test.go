package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// frostctl runs the CLI in-process against the server at sock.
func frostctl(t *testing.T, sock string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"--addr", sock}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestGolden(t *testing.T) {
	sock := startServer(t)
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"vms", []string{"vms"}, 0},
		{"state", []string{"state", "--vm", "win10"}, 0},
		{"ps", []string{"ps", "--vm", "win10"}, 0},
		{"threads", []string{"threads", "--vm", "win10"}, 0},
		{"regs", []string{"regs", "--vm", "win10"}, 0},
		{"read-physical", []string{"read", "--vm", "win10", "--physical", "0x1ff8", "0x20"}, 0},
		{"read-hole", []string{"read", "--vm", "win10", "--physical", "0x2000", "0x10"}, 1},
		{"boot-no-libvirt", []string{"boot", "mini-nt", "--winboot"}, 1},
		{"vtop-no-symbols", []string{"vtop", "--vm", "win10", "--pid", "420", "7ff6`12340000"}, 1},
		{"attach-unknown", []string{"attach", "nope"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := frostctl(t, sock, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			got := "$ frostctl " + strings.Join(tc.args, " ") + "\n" + stdout + stderr
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

// --json=proto prints the API's own messages as protojson does: a program
// with the API's types parses them back.
func TestJSONParses(t *testing.T) {
	sock := startServer(t)
	stdout, stderr, code := frostctl(t, sock, "vms", "--json=proto")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var vms pb.ListDomainsResponse
	if err := protojson.Unmarshal([]byte(stdout), &vms); err != nil {
		t.Fatalf("vms --json=proto: %v\n%s", err, stdout)
	}
	if len(vms.GetDomains()) != 2 || vms.GetDomains()[0].GetName() != "win10" || !vms.GetDomains()[0].GetAttached() {
		t.Errorf("vms --json=proto: %v", &vms)
	}

	stdout, stderr, code = frostctl(t, sock, "ps", "--vm", "win10", "--json=proto")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var ps pb.ListProcessesResponse
	if err := protojson.Unmarshal([]byte(stdout), &ps); err != nil {
		t.Fatalf("ps --json=proto: %v\n%s", err, stdout)
	}
	if len(ps.GetProcesses()) != 4 || ps.GetProcesses()[2].GetName() != "writer.exe" || ps.GetProcesses()[2].GetPid() != 420 ||
		ps.GetProcesses()[2].GetCommandLine() != `C:\writer.exe --period 250` || !ps.GetProcesses()[3].GetExited() {
		t.Errorf("ps --json=proto: %v", &ps)
	}

	stdout, _, code = frostctl(t, sock, "read", "--vm", "win10", "--physical", "0x1000", "4", "--json=proto")
	var rd pb.ReadPhysicalResponse
	if err := protojson.Unmarshal([]byte(stdout), &rd); code != 0 || err != nil {
		t.Fatalf("read --json=proto: exit %d, %v\n%s", code, err, stdout)
	}
	if string(rd.GetData()) != "MZ\x90\x00" || len(rd.GetPages()) != 1 || !rd.GetPages()[0].GetServed() {
		t.Errorf("read --json=proto: %v", &rd)
	}
}

func TestRawReadToFile(t *testing.T) {
	sock := startServer(t)
	out := filepath.Join(t.TempDir(), "page.bin")
	_, stderr, code := frostctl(t, sock, "read", "--vm", "win10", "--physical", "0x1000", "0x1000", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 0x1000 || !bytes.HasPrefix(b, []byte("MZ\x90\x00frost")) {
		t.Errorf("raw read: %d bytes, starts %q", len(b), b[:16])
	}
}
