package vmi

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/qmp"
)

// fakeKVM answers query-kvm and nothing else.
type fakeKVM struct {
	enabled bool
	err     error
}

func (f fakeKVM) Execute(_ context.Context, command string, _, result any) error {
	if f.err != nil {
		return f.err
	}
	if command != "query-kvm" {
		return &qmp.Error{Command: command, Class: qmp.ClassCommandNotFound}
	}
	b, _ := json.Marshal(map[string]bool{"enabled": f.enabled, "present": true})
	return json.Unmarshal(b, result)
}

func cpuinfo(t *testing.T, flags string) string {
	path := filepath.Join(t.TempDir(), "cpuinfo")
	if err := os.WriteFile(path, []byte("processor\t: 0\nflags\t\t: fpu "+flags+" sse2\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCapabilitiesFromAccelerator: the breakpoint kinds follow query-kvm
// and the host's CPU flags, as the table says, and nothing else.
func TestCapabilitiesFromAccelerator(t *testing.T) {
	withVMX, noVirt := cpuinfo(t, "vmx"), cpuinfo(t, "hypervisor")
	for _, tc := range []struct {
		name    string
		kvm     bool
		cpuinfo string
		visible bool
		want    gdbstub.Accelerator
		sw      bool
	}{
		{"tcg", false, "/nonexistent", false, gdbstub.AccelTCG, true},
		{"kvm", true, withVMX, false, gdbstub.AccelKVM, false},
		{"kvm, visible allowed", true, withVMX, true, gdbstub.AccelKVM, true},
		{"kvm_pvm", true, noVirt, true, gdbstub.AccelKVMNoVirt, false},
	} {
		caps, err := capabilities(context.Background(), qmp.NewMonitor(fakeKVM{enabled: tc.kvm}),
			Options{CPUInfo: tc.cpuinfo, AllowVisibleBreakpoints: tc.visible})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if caps.Accel != tc.want || caps.Software != tc.sw {
			t.Errorf("%s: %+v, want %v with Z0 %v", tc.name, caps, tc.want, tc.sw)
		}
		if tc.want != gdbstub.AccelTCG && (caps.Watchpoints || caps.HardwareSlots != 4) {
			t.Errorf("%s: %+v: KVM has 4 Z1 slots and no working watchpoints", tc.name, caps)
		}
	}
}

func TestCapabilitiesErrors(t *testing.T) {
	down := errors.New("monitor down")
	if _, err := capabilities(context.Background(), qmp.NewMonitor(fakeKVM{err: down}), Options{}); !errors.Is(err, down) {
		t.Errorf("query-kvm failing: %v", err)
	}
	// Under KVM, unknown CPU flags mean unknown breakpoints: refuse
	// rather than guess.
	if _, err := capabilities(context.Background(), qmp.NewMonitor(fakeKVM{enabled: true}), Options{CPUInfo: "/nonexistent"}); err == nil {
		t.Error("KVM without readable CPU flags gave capabilities")
	}
}
