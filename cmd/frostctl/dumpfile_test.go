package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Over frostd's own listener (peer credentials), frostctl dump has frostd
// write the file, and the file is byte for byte the one the stream
// writes: an ELF core and a raw image with its hole.
func TestDumpByFrostdEqualsStream(t *testing.T) {
	for _, format := range []string{"elf", "raw"} {
		t.Run(format, func(t *testing.T) {
			cpu := &dumpCPU{running: true, system: true}
			sock := startDumpServerWith(t, cpu, nil, true)
			dir := t.TempDir()
			files := map[string][]byte{}
			for _, via := range []string{"frostd", "stream"} {
				out := filepath.Join(dir, via)
				var stdout, stderr bytes.Buffer
				if code := runDump(context.Background(), sock, &stdout, &stderr, "--format", format, "--via", via, "-o", out); code != 0 {
					t.Fatalf("--via %s: exit %d: %s", via, code, stderr.String())
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				files[via] = b
			}
			want := []string{"pause", "registers", "file", "resume", "pause", "registers", "stream", "stream", "resume"}
			if format == "raw" {
				// A raw image has no notes, so no registers are read.
				want = slices.DeleteFunc(want, func(s string) bool { return s == "registers" })
			}
			if got := cpu.log(); !slices.Equal(got, want) {
				t.Errorf("calls %v", got)
			}
			if !bytes.Equal(files["frostd"], files["stream"]) || len(files["stream"]) == 0 {
				t.Errorf("frostd's file (%d bytes) differs from the stream's (%d bytes)", len(files["frostd"]), len(files["stream"]))
			}
			if format == "raw" && len(files["frostd"]) != len(dumpRAM()) {
				t.Errorf("raw image: %d bytes, want %d", len(files["frostd"]), len(dumpRAM()))
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("%d files left in the directory, want the two dumps", len(entries))
			}
		})
	}
}

// --via frostd over a listener without peer credentials fails, naming
// frostd's rule, and leaves no file; auto streams instead.
func TestDumpByFrostdRefused(t *testing.T) {
	cpu := &dumpCPU{running: true, system: true}
	sock := startDumpServer(t, cpu, nil)
	dir := t.TempDir()
	out := filepath.Join(dir, "core")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--via", "frostd", "-o", out); code == 0 || !strings.Contains(stderr.String(), "only over frostd's unix socket") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused dump left %d files", len(entries))
	}
	if !cpu.running {
		t.Error("the guest was left paused")
	}
	stdout.Reset()
	stderr.Reset()
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-o", out); code != 0 {
		t.Fatalf("auto: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}
