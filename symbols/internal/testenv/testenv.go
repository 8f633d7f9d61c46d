// Package testenv holds what the symbols tests share: finding the
// toolchain and the inputs that live outside the package (mini-NT's build,
// the real Windows ISF), and building PDBs from C sources with clang and
// lld-link.
//
// A missing tool or input skips a test, unless FROST_REQUIRE_INTEGRATION
// is set (make test sets it): then it fails, so CI cannot pass by
// skipping.
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Required reports whether missing prerequisites must fail tests.
func Required() bool { return os.Getenv("FROST_REQUIRE_INTEGRATION") != "" }

// Missing skips or fails t because of what.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("FROST_REQUIRE_INTEGRATION is set, but "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireTools checks that every tool is on PATH.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, "%s is not installed", tool)
		}
	}
}

// RepoRoot is the module root (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	// this file is symbols/internal/testenv/testenv.go
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// GuestOut returns mini-NT's build output directory, after checking that
// file (e.g. "ntkrnlmp.pdb") is in it. Build it with
// `make -C integration/guest`.
func GuestOut(t testing.TB, file string) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "integration", "guest", "out")
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		Missing(t, "mini-NT is not built (%v); run make -C integration/guest", err)
	}
	return dir
}

// RealISF is the Windows 10 ntkrnlmp ISF in ../shared/testdata/isf, read
// in place and never copied.
func RealISF(t testing.TB) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", "testdata", "isf", "606FF669409B00F7FC8C61A9C1670129-1.json.xz")
	if _, err := os.Stat(p); err != nil {
		Missing(t, "the real Windows ISF is not beside the checkout: %v", err)
	}
	return p
}

// Run runs a command and fails t with its output if it fails.
func Run(t testing.TB, dir, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.Bytes())
	}
	return out.Bytes()
}

// BuildPDB compiles the C or C++ file src with clang for x86_64 Windows
// with CodeView debug info (keeping unused types) and any extra flags,
// links it with lld-link (entry point entry, no CRT) and returns the
// paths of the PDB and the image, both in a temporary directory.
func BuildPDB(t testing.TB, src, entry string, flags ...string) (pdbPath, exePath string) {
	t.Helper()
	RequireTools(t, "clang", "lld-link")
	dir := t.TempDir()
	base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	obj := filepath.Join(dir, base+".obj")
	pdbPath = filepath.Join(dir, base+".pdb")
	exePath = filepath.Join(dir, base+".exe")
	args := append([]string{"--target=x86_64-pc-windows-msvc", "-c", "-gcodeview", "-g",
		"-fno-eliminate-unused-debug-types"}, flags...)
	Run(t, dir, "clang", append(args, "-o", obj, src)...)
	Run(t, dir, "lld-link", "/debug", "/pdb:"+pdbPath, "/out:"+exePath, "/entry:"+entry,
		"/subsystem:native", "/nodefaultlib", obj)
	return pdbPath, exePath
}

// HeapAllocated is the process's cumulative heap allocation in bytes. A
// fuzz target reads it before and after a call to check the call's
// allocation against a stated bound; fuzz workers call their target one
// input at a time, so the difference is the call's. It uses
// runtime.ReadMemStats, which is exact to the object; runtime/metrics'
// counter moves in whole cached spans and would blame one call for
// another's allocations.
func HeapAllocated() uint64 {
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return st.TotalAlloc
}
