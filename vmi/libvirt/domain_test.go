package libvirt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"
)

func TestUUID(t *testing.T) {
	const s = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	u, err := parseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	if formatUUID(u) != s {
		t.Errorf("round trip gave %s", formatUUID(u))
	}
	if u2, err := parseUUID("3f2504e04f8911d39a0c0305e82c3301"); err != nil || u2 != u {
		t.Errorf("32 hex digits: %v", err)
	}
	for _, bad := range []string{"", "frost-test-1", "3f2504e0-4f89-11d3-9a0c-0305e82c330", "3f2504e0-4f89-11d3-9a0c-0305e82c330x", "3f2504e04f89-11d3-9a0c-0305e82c3301-"} {
		var ue *UUIDError
		if _, err := parseUUID(bad); !errors.As(err, &ue) {
			t.Errorf("%q parsed: %v", bad, err)
		}
	}
}

func TestErrorIsNoDomain(t *testing.T) {
	err := wrap("looking up domain x", golibvirt.Error{Code: uint32(golibvirt.ErrNoDomain), Message: "Domain not found"})
	if !errors.Is(err, ErrNoDomain) {
		t.Errorf("%v is not ErrNoDomain", err)
	}
	var le *Error
	if !errors.As(err, &le) || le.Op != "looking up domain x" {
		t.Errorf("%v", err)
	}
	if errors.Is(wrap("x", golibvirt.Error{Code: 1, Message: "internal"}), ErrNoDomain) {
		t.Error("an internal error is ErrNoDomain")
	}
}

func TestStateStrings(t *testing.T) {
	if StatePaused.String() != "paused" || StateShutoff.String() != "shut off" || State(99).String() != "State(99)" {
		t.Error("state names")
	}
	if Suspended.String() != "suspended" || Lifecycle(42).String() != "Lifecycle(42)" {
		t.Error("lifecycle names")
	}
}

// pidOf believes a pid file only if the process is the domain's QEMU.
func TestPIDOf(t *testing.T) {
	pidDir, proc := t.TempDir(), t.TempDir()
	write := func(path, s string) {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(pidDir, "vm1.pid"), "4242\n")
	write(filepath.Join(proc, "4242", "cmdline"), "/usr/bin/qemu-system-x86_64\x00-name\x00guest=vm1,debug-threads=on\x00-S\x00")
	if pid, err := pidOf(pidDir, proc, "vm1"); err != nil || pid != 4242 {
		t.Errorf("pidOf: %d, %v", pid, err)
	}
	write(filepath.Join(pidDir, "vm2.pid"), "4242")
	if _, err := pidOf(pidDir, proc, "vm2"); err == nil {
		t.Error("another domain's QEMU accepted")
	}
	write(filepath.Join(pidDir, "vm3.pid"), "99999999")
	if _, err := pidOf(pidDir, proc, "vm3"); err == nil {
		t.Error("a dead pid accepted")
	}
	write(filepath.Join(pidDir, "vm4.pid"), "x")
	for _, name := range []string{"vm4", "none", "../vm1", ""} {
		if _, err := pidOf(pidDir, proc, name); err == nil {
			t.Errorf("%q: a pid came out", name)
		}
	}
}
