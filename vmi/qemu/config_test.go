package qemu

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWithDefaults(t *testing.T) {
	c, err := Config{Kernel: "k"}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MemoryMB != 128 || c.Accel != AccelTCG || c.QEMU != "qemu-system-x86_64" {
		t.Errorf("defaults = %+v", c)
	}
	for _, tc := range []struct {
		cfg   Config
		field string
	}{
		{Config{}, "Kernel"},
		{Config{Kernel: "k", Accel: "hvf"}, "Accel"},
		{Config{Kernel: "k", CPUs: 9}, "CPUs"},
		{Config{Kernel: "k", MemoryMB: -1}, "MemoryMB"},
		{Config{Kernel: "k", RAM: 7}, "RAM"},
		{Config{Kernel: "k", Append: "a\nb"}, "Append"},
	} {
		_, err := tc.cfg.WithDefaults()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("WithDefaults(%+v) = %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
	}
}

// argAfter returns the value following flag's n-th occurrence.
func argAfter(t *testing.T, args []string, flag string, n int) string {
	t.Helper()
	seen := 0
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			if seen == n {
				return args[i+1]
			}
			seen++
		}
	}
	t.Fatalf("no %s #%d in %q", flag, n, args)
	return ""
}

func TestArgs(t *testing.T) {
	cfg := Config{Kernel: "/g/loader.elf", Modules: []string{"/g/a.exe", "/g/b.dll"}, Append: `x=7 y="a b"`,
		Drives: []string{"c.img", "/images/d.img"}}
	args, err := cfg.Args(RunDirAt("/tmp/frost-qemu-1"), "/dev/shm/frost-1-ab")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"-accel":  "tcg",
		"-cpu":    "qemu64,phys-bits=46",
		"-m":      "128",
		"-object": "memory-backend-file,id=mem,size=128M,mem-path=/dev/shm/frost-1-ab,share=on",
		"-gdb":    "unix:/tmp/frost-qemu-1/gdb.sock,server=on,wait=off",
		"-qmp":    "unix:/tmp/frost-qemu-1/qmp.sock,server=on,wait=off",
		"-serial": "file:/tmp/frost-qemu-1/serial.log",
		"-drive":  "file=/tmp/frost-qemu-1/c.img,format=raw,if=ide,index=0",
		"-kernel": "/g/loader.elf",
		"-initrd": "/g/a.exe,/g/b.dll",
		"-append": `x=7 y="a b"`,
	}
	for flag, want := range checks {
		if got := argAfter(t, args, flag, 0); got != want {
			t.Errorf("%s %q, want %q", flag, got, want)
		}
	}
	if got := argAfter(t, args, "-drive", 1); got != "file=/images/d.img,format=raw,if=ide,index=1" {
		t.Errorf("second -drive %q", got)
	}
	if got := argAfter(t, args, "-qmp", 1); got != "unix:/tmp/frost-qemu-1/vmi-qmp.sock,server=on,wait=off" {
		t.Errorf("second -qmp (the Target's) %q", got)
	}
	if argAfter(t, args, "-machine", 0) != "pc" || argAfter(t, args, "-machine", 1) != "memory-backend=mem" {
		t.Errorf("-machine options wrong: %q", args)
	}
	for _, flag := range []string{"-no-reboot", "-display"} {
		if !slices.Contains(args, flag) {
			t.Errorf("missing %s", flag)
		}
	}
	if slices.Contains(args, "-S") {
		t.Error("-S without Paused")
	}
}

func TestArgsVariants(t *testing.T) {
	cfg := Config{Kernel: "/g/k", Accel: AccelKVM, Paused: true, GDBTCP: true, MemoryMB: 256, Reboot: true}
	d := RunDirAt("/tmp/d")
	d.gdb, d.gdbTCP = "", "127.0.0.1:4567"
	args, err := cfg.Args(d, "/dev/shm/r")
	if err != nil {
		t.Fatal(err)
	}
	if got := argAfter(t, args, "-cpu", 0); got != "qemu64,-pni,phys-bits=46" {
		t.Errorf("kvm -cpu %q", got)
	}
	if got := argAfter(t, args, "-gdb", 0); got != "tcp:127.0.0.1:4567" {
		t.Errorf("-gdb %q", got)
	}
	if !strings.Contains(argAfter(t, args, "-object", 0), "size=256M") || argAfter(t, args, "-m", 0) != "256" {
		t.Errorf("memory size not applied: %q", args)
	}
	if !slices.Contains(args, "-S") {
		t.Error("Paused without -S")
	}
	if slices.Contains(args, "-no-reboot") {
		t.Error("Reboot still passes -no-reboot")
	}
	if slices.Contains(args, "-initrd") || slices.Contains(args, "-drive") {
		t.Errorf("no modules or drives, yet %q", args)
	}
}

func TestArgsPrivateRAMAndSMP(t *testing.T) {
	args, err := Config{Kernel: "/g/k", RAM: RAMPrivate, CPUs: 2}.Args(RunDirAt("/tmp/d"), "")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(args, "-object") || slices.Contains(args, "memory-backend=mem") {
		t.Errorf("RAMPrivate still names a memory backend: %q", args)
	}
	if !slices.Contains(args, "-no-reboot") {
		t.Error("no -no-reboot: a crashing guest would reboot forever")
	}
	if got := argAfter(t, args, "-smp", 0); got != "2" {
		t.Errorf("-smp %q, want 2", got)
	}
}

func TestArgsRejectUnsafePaths(t *testing.T) {
	cfg := Config{Kernel: "/g/k"}
	if _, err := cfg.Args(RunDirAt("/tmp/a,b"), "/dev/shm/r"); err == nil {
		t.Error("accepted a comma in the machine directory")
	}
	if _, err := cfg.Args(RunDirAt("/tmp/d"), "/dev/shm/a,b"); err == nil {
		t.Error("accepted a comma in the RAM file")
	}
	long := "/tmp/" + strings.Repeat("x", 110)
	if _, err := cfg.Args(RunDirAt(long), "/dev/shm/r"); err == nil {
		t.Error("accepted a socket path longer than sun_path")
	}
	cfg.Drives = []string{"a,b.img"}
	if _, err := cfg.Args(RunDirAt("/tmp/d"), "/dev/shm/r"); err == nil {
		t.Error("accepted a comma in a drive")
	}
}

func TestCheckBootFiles(t *testing.T) {
	dir := t.TempDir()
	kernel, module := filepath.Join(dir, "k.elf"), filepath.Join(dir, "m.exe")
	if err := (Config{Kernel: kernel}).checkBootFiles(); err == nil {
		t.Error("accepted a kernel that does not exist")
	}
	for _, f := range []string{kernel, module} {
		os.WriteFile(f, []byte("x"), 0o644)
	}
	if err := (Config{Kernel: kernel, Modules: []string{module}}).checkBootFiles(); err != nil {
		t.Errorf("complete boot files: %v", err)
	}
	if err := (Config{Kernel: dir}).checkBootFiles(); err == nil {
		t.Error("accepted a directory as the kernel")
	}
	for _, name := range []string{"a,b", "a b"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("x"), 0o644)
		err := (Config{Kernel: kernel, Modules: []string{p}}).checkBootFiles()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "Modules" || !strings.Contains(err.Error(), "-initrd") {
			t.Errorf("module %q: error %v, want a ConfigError on Modules naming -initrd", name, err)
		}
	}
}
