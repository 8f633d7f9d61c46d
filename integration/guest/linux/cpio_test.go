package linuxguest

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// cpioEntry is one entry read back from a newc archive.
type cpioEntry struct {
	name                     string
	ino, mode, nlink         uint32
	rdevMajor, rdevMinor     uint32
	data                     []byte
	headerOffset, dataOffset int
}

// readCPIO parses a newc archive independently of the writer: every
// header field by its position in the format, alignment checked, up to
// and including the trailer, with nothing after it but padding.
func readCPIO(b []byte) ([]cpioEntry, error) {
	var out []cpioEntry
	off := 0
	for {
		if off%4 != 0 {
			return nil, fmt.Errorf("entry at %d is not 4-aligned", off)
		}
		if len(b)-off < 110 {
			return nil, fmt.Errorf("truncated header at %d", off)
		}
		h := string(b[off : off+110])
		if h[:6] != "070701" {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		field := func(i int) (uint32, error) {
			v, err := strconv.ParseUint(h[6+8*i:6+8*i+8], 16, 32)
			return uint32(v), err
		}
		var f [13]uint32
		for i := range f {
			v, err := field(i)
			if err != nil {
				return nil, fmt.Errorf("header at %d, field %d: %v", off, i, err)
			}
			f[i] = v
		}
		namesize, filesize := int(f[11]), int(f[6])
		nameEnd := off + 110 + namesize
		if namesize < 1 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("bad name at %d", off)
		}
		e := cpioEntry{
			name: string(b[off+110 : nameEnd-1]), ino: f[0], mode: f[1], nlink: f[4],
			rdevMajor: f[9], rdevMinor: f[10], headerOffset: off,
		}
		if f[2] != 0 || f[3] != 0 || f[5] != 0 || f[12] != 0 {
			return nil, fmt.Errorf("%s: uid %d gid %d mtime %d check %d, want zeros", e.name, f[2], f[3], f[5], f[12])
		}
		e.dataOffset = (nameEnd + 3) &^ 3
		if e.dataOffset+filesize > len(b) {
			return nil, fmt.Errorf("%s: data runs past the end", e.name)
		}
		for _, p := range b[nameEnd:e.dataOffset] {
			if p != 0 {
				return nil, fmt.Errorf("%s: non-zero name padding", e.name)
			}
		}
		e.data = b[e.dataOffset : e.dataOffset+filesize]
		off = (e.dataOffset + filesize + 3) &^ 3
		out = append(out, e)
		if e.name == "TRAILER!!!" {
			if len(b) != off || bytes.Count(b[e.dataOffset:], []byte{0}) != len(b)-e.dataOffset {
				return nil, fmt.Errorf("%d bytes after the trailer", len(b)-e.dataOffset)
			}
			return out, nil
		}
	}
}

func TestCPIOWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	// Names of every length modulo 4, so every padding case is hit;
	// data of every length modulo 4 too.
	steps := []error{
		w.Dir("bin", 0o755),
		w.Dir("dev", 0o700),
		w.File("bin/a", 0o644, []byte("x")),
		w.File("bin/ab", 0o600, []byte("xy")),
		w.File("bin/abc", 0o755, []byte("xyz")),
		w.File("bin/abcd", 0o644, []byte("wxyz")),
		w.File("bin/empty", 0o644, nil),
		w.Symlink("bin/sh", "busybox"),
		w.CharDev("dev/console", 0o600, 5, 1),
		w.Close(),
		w.Close(), // a second Close is a no-op
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	entries, err := readCPIO(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name         string
		mode         uint32
		data         string
		major, minor uint32
	}{
		{"bin", 0o040755, "", 0, 0},
		{"dev", 0o040700, "", 0, 0},
		{"bin/a", 0o100644, "x", 0, 0},
		{"bin/ab", 0o100600, "xy", 0, 0},
		{"bin/abc", 0o100755, "xyz", 0, 0},
		{"bin/abcd", 0o100644, "wxyz", 0, 0},
		{"bin/empty", 0o100644, "", 0, 0},
		{"bin/sh", 0o120777, "busybox", 0, 0},
		{"dev/console", 0o020600, "", 5, 1},
		{"TRAILER!!!", 0, "", 0, 0},
	}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(entries), len(want), entries)
	}
	inos := map[uint32]bool{}
	for i, e := range entries {
		w := want[i]
		if e.name != w.name || e.mode != w.mode || string(e.data) != w.data || e.rdevMajor != w.major || e.rdevMinor != w.minor {
			t.Errorf("entry %d: %s mode %o data %q dev %d:%d; want %s %o %q %d:%d",
				i, e.name, e.mode, e.data, e.rdevMajor, e.rdevMinor, w.name, w.mode, w.data, w.major, w.minor)
		}
		if e.name != "TRAILER!!!" {
			if inos[e.ino] || e.ino == 0 {
				t.Errorf("%s: inode %d reused or zero", e.name, e.ino)
			}
			inos[e.ino] = true
		}
		if (e.mode&modeType == modeDir) != (e.nlink == 2) {
			t.Errorf("%s: nlink %d", e.name, e.nlink)
		}
	}
}

// The system's cpio, where installed, reads the archive the same way.
func TestCPIOWriterAgainstCpioTool(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio not installed; readCPIO checks the format")
	}
	var buf bytes.Buffer
	w := NewCPIOWriter(&buf)
	for _, err := range []error{w.Dir("d", 0o755), w.File("d/f", 0o644, []byte("hello")), w.Symlink("d/l", "f"), w.Close()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("cpio", "-t", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "d d/f d/l" {
		t.Errorf("cpio -t lists %q", got)
	}
}

func TestCPIOWriterRefuses(t *testing.T) {
	for _, tc := range []struct {
		what string
		add  func(w *CPIOWriter) error
		want string
	}{
		{"absolute", func(w *CPIOWriter) error { return w.File("/init", 0o755, nil) }, "clean relative"},
		{"dot-dot", func(w *CPIOWriter) error { return w.File("../x", 0o644, nil) }, "clean relative"},
		{"unclean", func(w *CPIOWriter) error { return w.File("a//b", 0o644, nil) }, "clean relative"},
		{"empty", func(w *CPIOWriter) error { return w.File("", 0o644, nil) }, "bad name"},
		{"NUL", func(w *CPIOWriter) error { return w.File("a\x00b", 0o644, nil) }, "bad name"},
		{"trailer name", func(w *CPIOWriter) error { return w.File("TRAILER!!!", 0o644, nil) }, "trailer"},
		{"no parent", func(w *CPIOWriter) error { return w.File("bin/sh", 0o755, nil) }, "before its directory"},
		{"file as parent", func(w *CPIOWriter) error {
			if err := w.File("f", 0o644, nil); err != nil {
				return err
			}
			return w.File("f/g", 0o644, nil)
		}, "before its directory"},
		{"twice", func(w *CPIOWriter) error {
			if err := w.Dir("d", 0o755); err != nil {
				return err
			}
			return w.Dir("d", 0o755)
		}, "added twice"},
		{"after close", func(w *CPIOWriter) error {
			if err := w.Close(); err != nil {
				return err
			}
			return w.Dir("d", 0o755)
		}, "after Close"},
		{"empty link", func(w *CPIOWriter) error { return w.Symlink("l", "") }, "bad target"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			err := tc.add(NewCPIOWriter(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

// A write error sticks: nothing more is written, Close reports it.
func TestCPIOWriterWriteErrorSticks(t *testing.T) {
	w := NewCPIOWriter(&failingWriter{n: 1})
	if err := w.Dir("a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.Dir("b", 0o755); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("second entry: %v", err)
	}
	if err := w.Dir("c", 0o755); err == nil {
		t.Error("an entry after a failed write succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after a failed write succeeded")
	}
}
