package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// A VM recorded by a crashed frostd that this one cannot recover yet stays
// recorded, and the failure is logged: it is never silently forgotten.
func TestRecoveryKeepsWhatItCannotRecover(t *testing.T) {
	args := baseArgs(t)
	state := args[3]
	if err := os.WriteFile(state, []byte(`{"pid": 1, "vms": ["held-by-the-dead"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, args...)
	if !strings.Contains(d.out.String(), "held-by-the-dead") || !strings.Contains(d.out.String(), "crash recovery") {
		t.Errorf("recovery not reported:\n%s", d.out)
	}
	d.stop()
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ VMs []string }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.VMs) != 1 || doc.VMs[0] != "held-by-the-dead" {
		t.Errorf("state file lists %v, want the unrecovered VM kept", doc.VMs)
	}
}
