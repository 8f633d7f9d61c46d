package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/session"
)

// A state file frostd cannot write: the VM services say NOT_SERVING (the
// symbol service still serves), the log says why, and a hold is refused
// with FailedPrecondition naming the path.
func TestUnwritableStateFileRefusesHolds(t *testing.T) {
	args := baseArgs(t)
	blocker := filepath.Join(filepath.Dir(args[3]), "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args[3] = filepath.Join(blocker, "state.json")
	d := startDaemon(t, args...)
	hc := healthpb.NewHealthClient(dialUnix(t, d.addr))
	for _, svc := range vmServices() {
		resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("%s: %v, %v; want NOT_SERVING", svc, resp.GetStatus(), err)
		}
	}
	if resp, err := hc.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: "frost.v1.SymbolService"}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("symbol service: %v, %v", resp.GetStatus(), err)
	}
	if !strings.Contains(d.out.String(), "refuses to attach or boot") {
		t.Errorf("the log does not say holds are refused:\n%s", d.out)
	}
	_, err := statusRecorder{&session.StateFile{Path: args[3]}}.Begin(session.Hold{VM: "g"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), args[3]) {
		t.Errorf("a hold: %v; want FailedPrecondition naming %s", err, args[3])
	}
}

// A corrupt state file is kept aside, said loudly, and not overwritten
// unseen.
func TestCorruptStateFileKeptAside(t *testing.T) {
	args := baseArgs(t)
	state := args[3]
	if err := os.WriteFile(state, []byte(`{"pid": 1, "vms": ["half`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, args...)
	if !strings.Contains(d.out.String(), "CRASH RECORD CORRUPT") {
		t.Errorf("not said loudly:\n%s", d.out)
	}
	kept, _ := filepath.Glob(state + ".corrupt-*")
	if len(kept) != 1 {
		t.Fatalf("kept copies: %v", kept)
	}
	if b, err := os.ReadFile(kept[0]); err != nil || string(b) != `{"pid": 1, "vms": ["half` {
		t.Errorf("kept copy %q, %v", b, err)
	}
}

// SIGHUP lets the guests go and stops frostd cleanly (exit 0, the guard
// told bye), as SIGTERM does: it never kills frostd outright.
func TestSIGHUPShutsDownCleanly(t *testing.T) {
	args := baseArgs(t)
	cmd := exec.Command(os.Args[0], append([]string{"frostd"}, args...)...)
	cmd.Env = append(os.Environ(), frostdMainEnv+"=1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "frostd serving") {
		if time.Now().After(deadline) {
			t.Fatalf("frostd did not serve:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("frostd did not stop on SIGHUP:\n%s", out.String())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) || err != nil {
		t.Fatalf("frostd ended with %v on SIGHUP, want a clean exit:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "frostd stopped") {
		t.Errorf("no clean shutdown in the log:\n%s", out.String())
	}
	guardLog, _ := os.ReadFile(filepath.Join(filepath.Dir(args[3]), "guard.log"))
	if !strings.Contains(string(guardLog), "frostd said bye") {
		t.Errorf("the guard was not told bye:\n%s", guardLog)
	}
}

// A guard that dies while frostd runs is noticed at once: frostd starts
// another and tells it what it holds, without waiting for the next hold.
func TestGuardLostIsReplaced(t *testing.T) {
	d := startDaemon(t, baseArgs(t)...)
	first := guardPIDs(d.out.String())
	if len(first) != 1 {
		t.Fatalf("guards connected: %v\n%s", first, d.out)
	}
	if err := syscall.Kill(first[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(guardPIDs(d.out.String())) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no new guard after the first was killed:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pids := guardPIDs(d.out.String()); pids[1] == pids[0] {
		t.Errorf("the same guard twice: %v", pids)
	}
}

// guardPIDs lists the guards frostd's log says it connected to.
func guardPIDs(log string) []int {
	var out []int
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "guard connected") {
			continue
		}
		_, v, ok := strings.Cut(line, "guard_pid=")
		if !ok {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(v, "%d", &pid); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
