package main

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fake guest has RAM at [0, 0x2000) and [0x3000, 0x4000), with MMIO
// between: an ELF core has one PT_LOAD per range with the guest's bytes,
// and a raw file holds each byte at its guest-physical offset.
func TestDump(t *testing.T) {
	sock := startServer(t)
	ram := make([]byte, 0x4000)
	for i := range ram {
		ram[i] = byte(i)
	}
	copy(ram[0x1000:], "MZ\x90\x00frost guest memory")
	dir := t.TempDir()

	core := filepath.Join(dir, "guest.elf")
	stdout, stderr, code := frostctl(t, sock, "dump", "--vm", "win10", "-o", core)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "12288 bytes of guest RAM in 2 ranges (elf)") {
		t.Errorf("stdout: %q", stdout)
	}
	if !strings.Contains(stderr, "100%") {
		t.Errorf("no finished progress bar on stderr: %q", stderr)
	}
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_CORE || len(f.Progs) != 2 {
		t.Fatalf("type %v, %d program headers", f.Type, len(f.Progs))
	}
	for _, p := range f.Progs {
		got, err := io.ReadAll(p.Open())
		if err != nil {
			t.Fatal(err)
		}
		if want := ram[p.Paddr : p.Paddr+p.Memsz]; !bytes.Equal(got, want) {
			t.Errorf("PT_LOAD at %#x: bytes differ from guest RAM", p.Paddr)
		}
	}

	raw := filepath.Join(dir, "guest.raw")
	if _, stderr, code := frostctl(t, sock, "dump", "--vm", "win10", "--format", "raw", "-q", "-o", raw); code != 0 {
		t.Fatalf("raw: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), ram...)
	clear(want[0x2000:0x3000]) // the hole is left sparse
	if !bytes.Equal(b, want) {
		t.Errorf("raw dump: %d bytes, differs from guest RAM with a zeroed hole", len(b))
	}
}
