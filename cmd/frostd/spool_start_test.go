package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Upload spool files a crashed frostd left are removed when frostd
// starts, not only at the first upload: a host that never converts a PDB
// again must not keep gigabytes of dead uploads.
func TestSpoolReapedAtStart(t *testing.T) {
	args := baseArgs(t)
	var dataDir string
	for i, a := range args {
		if a == "--data-dir" {
			dataDir = args[i+1]
		}
	}
	spool := filepath.Join(filepath.Dir(dataDir), "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	// A pid no process has: the largest a Linux pid can be, plus one.
	dead := filepath.Join(spool, "upload-4194305-left")
	if err := os.WriteFile(dead, []byte("a dead frostd's upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, args...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(dead); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a dead frostd's spool file is still there 10 s after start:\n%s", d.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
