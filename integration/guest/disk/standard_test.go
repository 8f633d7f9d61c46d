package disk

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeGuestOut writes stand-ins for the guest's user-mode executables.
func fakeGuestOut(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, exe := range StandardExecutables {
		if err := os.WriteFile(filepath.Join(dir, exe), []byte("MZ "+exe+strings.Repeat("\x90", 700)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNewStandard(t *testing.T) {
	out := fakeGuestOut(t)
	path := filepath.Join(t.TempDir(), "c.img")
	if err := NewStandard(path, out); err != nil {
		t.Fatalf("NewStandard: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != StandardSize {
		t.Errorf("image is %d bytes, want %d", st.Size(), StandardSize)
	}
	// Sparse: the two filled paging files are 16 MiB; the rest is holes.
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 > 20<<20 {
		t.Errorf("image uses %d bytes on disk; want it sparse", sys.Blocks*512)
	}

	v, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer v.Close()

	wantNames := []string{PagefileName, Pagefile2Name, LogName,
		`\Windows\System32\smss.exe`, `\Windows\System32\csrss.exe`, `\Windows\System32\writer.exe`,
		`\Windows\System32\swapper.exe`, `\Windows\System32\frostimg.dll`, `\Windows\System32\ntdll.dll`,
		`\Windows\System32\frostrt.dll`, `\Windows\System32\netclient.exe`}
	entries := v.Entries()
	if len(entries) != len(wantNames) {
		t.Fatalf("entries = %+v, want %v", entries, wantNames)
	}
	for i, e := range entries {
		if e.Name != wantNames[i] {
			t.Errorf("entry %d is %q, want %q", i, e.Name, wantNames[i])
		}
		if e.Offset%standardAlign != 0 {
			t.Errorf("%s at %#x, want MiB aligned", e.Name, e.Offset)
		}
	}

	for _, name := range []string{PagefileName, Pagefile2Name} {
		e, _ := v.Extent(name)
		if e.Exists() || e.Capacity != PagefileCapacity || e.Size != 0 {
			t.Errorf("%s = %+v, want reserved with an 8 MiB extent", name, e)
		}
		r, _ := v.ReadExtent(name)
		raw, _ := io.ReadAll(r)
		if !bytes.Equal(raw, bytes.Repeat([]byte{NeverWritten}, PagefileCapacity)) {
			t.Errorf("%s extent is not all %#x", name, NeverWritten)
		}
	}

	log, _ := v.Extent(LogName)
	if log.Exists() || log.Capacity != LogCapacity {
		t.Errorf("log = %+v, want reserved with a 4 MiB extent", log)
	}
	if _, err := v.ReadFile(LogName); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(log) error = %v, want fs.ErrNotExist before the guest creates it", err)
	}

	for _, exe := range StandardExecutables {
		got, err := v.ReadFile(SystemDir + exe)
		want, _ := os.ReadFile(filepath.Join(out, exe))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%s) = %d bytes, %v; want the %d bytes of out/%s", exe, len(got), err, len(want), exe)
		}
	}
}

func TestNewStandardMissingExecutable(t *testing.T) {
	out := fakeGuestOut(t)
	os.Remove(filepath.Join(out, "writer.exe"))
	path := filepath.Join(t.TempDir(), "c.img")
	err := NewStandard(path, out)
	if err == nil || !strings.Contains(err.Error(), "writer.exe") || !strings.Contains(err.Error(), "make guest") {
		t.Errorf("NewStandard error = %v, want it to name writer.exe and `make guest`", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed NewStandard left %s behind", path)
	}
}

func TestCreateRemovesImageOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.img")
	if err := Create(path, 64<<10, []File{{Name: "bad"}}); err == nil {
		t.Fatal("Create accepted a bad name")
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed Create left %s behind", path)
	}
}
