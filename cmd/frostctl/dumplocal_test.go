package main

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/frostvmi/frost/vmi"
)

// startLocalDumpServer is startDumpServer with the guest's RAM in a file
// frostd hands to local clients over its side socket: the map of
// fakes_test.go's guest, RAM at [0, 0x2000) and [0x3000, 0x4000).
func startLocalDumpServer(t *testing.T, cpu *dumpCPU) string {
	t.Helper()
	ram := dumpRAM()
	tg := &sharedFake{fakeTarget: &fakeTarget{ram: ram, holeStart: 0x2000, holeEnd: 0x3000}, path: sharedRAMFile(t, ram),
		ranges: []vmi.PhysicalRange{{GPA: 0, Size: 0x2000}, {GPA: 0x3000, Size: 0x1000, Offset: 0x3000}}}
	sock, reg := startDumpServerOver(t, cpu, nil, false, tg)
	serveSide(t, sock, reg)
	return sock
}

// TestDumpLocal: on frostd's host a dump --via local, or auto when
// frostd may not write the file (this server's listener gives no peer
// credentials), is copied from the mapping of guest RAM, no byte
// streamed, inside the hold (paused, then resumed as found); the ELF core
// and the raw file are the guest's RAM, as a streamed dump's are.
func TestDumpLocal(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startLocalDumpServer(t, cpu)
	ram := dumpRAM()
	dir := t.TempDir()
	for _, via := range []string{"auto", "local"} {
		core := filepath.Join(dir, via+".elf")
		var stdout, stderr bytes.Buffer
		if code := runDump(context.Background(), sock, &stdout, &stderr, "--via", via, "-q", "-o", core); code != 0 {
			t.Fatalf("--via %s: exit %d: %s", via, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "12288 bytes of guest RAM in 2 ranges (elf)") || !strings.Contains(stdout.String(), "consistent image") {
			t.Errorf("--via %s: stdout %q", via, stdout.String())
		}
		f, err := elf.Open(core)
		if err != nil {
			t.Fatal(err)
		}
		checkCoreRAM(t, f, ram)
		f.Close()
	}
	raw := filepath.Join(dir, "guest.raw")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--via", "local", "--format", "raw", "-q", "-o", raw); code != 0 {
		t.Fatalf("raw: exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(raw)
	want := append([]byte(nil), ram...)
	clear(want[0x2000:0x3000])
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("raw dump: %d bytes, %v; differs from guest RAM with a zeroed hole", len(b), err)
	}
	log := cpu.log()
	if slices.Contains(log, "stream") {
		t.Errorf("a local dump streamed: %v", log)
	}
	if n := len(slices.DeleteFunc(slices.Clone(log), func(s string) bool { return s != "file" })); n != 1 {
		t.Errorf("frostd asked to write %d times, want once (auto, first): %v", n, log)
	}
	if len(log) == 0 || log[0] != "pause" || !slices.Contains(log, "resume") {
		t.Errorf("a dump outside the hold: %v", log)
	}
}

// TestDumpLocalRefusedElsewhere: --via local with no mapping (frostd
// hands out no RAM for this guest) fails and says why, and auto streams.
func TestDumpLocalRefusedElsewhere(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startDumpServer(t, cpu, nil)
	out := filepath.Join(t.TempDir(), "guest.elf")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--via", "local", "-q", "-o", out); code != 1 ||
		!strings.Contains(stderr.String(), "--via local: guest RAM is not mapped here") {
		t.Errorf("--via local without a mapping: exit %d, %s", code, stderr.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed dump left %s: %v", out, err)
	}
	stderr.Reset()
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-q", "-o", out); code != 0 || !slices.Contains(cpu.log(), "stream") {
		t.Errorf("auto without a mapping: exit %d, calls %v, %s", code, cpu.log(), stderr.String())
	}
}
