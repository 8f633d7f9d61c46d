package linuxguest

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeBusybox stands in for the binary: WriteInitramfs only checks that
// it is an ELF file.
var fakeBusybox = []byte("\x7fELF fake busybox")

func readInitramfs(t *testing.T, c Config) map[string]cpioEntry {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteInitramfs(&buf, fakeBusybox, c); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readCPIO(raw)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpioEntry{}
	for _, e := range entries {
		byName[e.name] = e
	}
	return byName
}

func TestInitramfsLayout(t *testing.T) {
	fs := readInitramfs(t, Config{WriterPeriod: 250 * time.Millisecond, NoisePeriod: 75 * time.Millisecond})
	if e := fs["dev/console"]; e.mode != modeCharDev|0o600 || e.rdevMajor != 5 || e.rdevMinor != 1 {
		t.Errorf("dev/console: mode %o dev %d:%d, want a char device 5:1", e.mode, e.rdevMajor, e.rdevMinor)
	}
	if e := fs["bin/busybox"]; !bytes.Equal(e.data, fakeBusybox) || e.mode != modeRegular|0o755 {
		t.Errorf("bin/busybox: mode %o, %q", e.mode, e.data)
	}
	for _, a := range applets {
		if e := fs["bin/"+a]; e.mode != modeSymlink|0o777 || string(e.data) != "busybox" {
			t.Errorf("bin/%s: mode %o -> %q, want a link to busybox", a, e.mode, e.data)
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "bin"} {
		if fs[d].mode&modeType != modeDir {
			t.Errorf("%s is not a directory (mode %o)", d, fs[d].mode)
		}
	}
	for _, s := range []string{"init", "writer", "noise"} {
		e := fs[s]
		if e.mode != modeRegular|0o755 || !strings.HasPrefix(string(e.data), "#!/bin/sh\n") {
			t.Errorf("%s: mode %o, starts %.20q", s, e.mode, e.data)
		}
	}
	init := string(fs["init"].data)
	for _, want := range []string{
		"mount -t devtmpfs devtmpfs /dev",
		`grep -E ' (_text|_stext|ksys_write|_raw_spin_lock)$' /proc/kallsyms`,
		"/noise &", "/writer &",
	} {
		if !strings.Contains(init, want) {
			t.Errorf("/init lacks %q:\n%s", want, init)
		}
	}
	if w := string(fs["writer"].data); !strings.Contains(w, "usleep 250000") || !strings.Contains(w, `printf 'frost-write %s `+WritePayload+`\n' "${n#1}"`) {
		t.Errorf("/writer:\n%s", w)
	}
	if n := string(fs["noise"].data); !strings.Contains(n, "usleep 75000") || !strings.Contains(n, ">/dev/null") {
		t.Errorf("/noise:\n%s", n)
	}
}

// Symbol names go into a grep pattern: only plain names are accepted, and
// a dot is matched literally.
func TestInitramfsSymbols(t *testing.T) {
	fs := readInitramfs(t, Config{Symbols: []string{"a.b", "c"}})
	if init := string(fs["init"].data); !strings.Contains(init, `' (a\.b|c)$'`) {
		t.Errorf("/init's pattern:\n%s", init)
	}
	for _, bad := range [][]string{{}, {"x|y"}, {"x y"}, {"x$"}, {""}} {
		if err := WriteInitramfs(io.Discard, fakeBusybox, Config{Symbols: bad}); err == nil {
			t.Errorf("symbols %q accepted", bad)
		}
	}
}

func TestConfigPTI(t *testing.T) {
	c, err := Config{PTI: true}.withDefaults()
	if err != nil || c.Cmdline != DefaultCmdline+" pti=on" {
		t.Errorf("PTI: cmdline %q, %v", c.Cmdline, err)
	}
	c, err = Config{PTI: true, Cmdline: "console=ttyS0 pti=on"}.withDefaults()
	if err != nil || c.Cmdline != "console=ttyS0 pti=on" {
		t.Errorf("PTI with pti=on given: cmdline %q, %v", c.Cmdline, err)
	}
}

func TestInitramfsRefuses(t *testing.T) {
	if err := WriteInitramfs(io.Discard, []byte("#!/bin/sh"), Config{}); err == nil || !strings.Contains(err.Error(), "not an ELF") {
		t.Errorf("a busybox that is not ELF: %v", err)
	}
	if err := WriteInitramfs(io.Discard, fakeBusybox, Config{WriterPeriod: time.Microsecond}); err == nil {
		t.Error("a 1µs writer period was accepted")
	}
}

// The writer's lines all have one length, whatever the counter: a buffer
// read late still reads as one whole line.
func TestWriteLine(t *testing.T) {
	for _, n := range []uint64{1, 42, 999999} {
		l := WriteLine(n)
		if len(l) != len(WriteLine(1)) || !strings.HasSuffix(l, "\n") {
			t.Errorf("WriteLine(%d) = %q", n, l)
		}
		if got, ok := ParseWrite(l); !ok || got != n {
			t.Errorf("ParseWrite(WriteLine(%d)) = %d, %v", n, got, ok)
		}
	}
}
