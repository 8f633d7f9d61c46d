package minint

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/frostvmi/frost/vmi/qemu"
)

func TestLoaderCmdline(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{}, ""},
		{"everything", Config{Seed: Seed(7), PagingFiles: []string{`C:\pagefile.sys`}, LoadOptions: "MININT INRAM", WriterPeriodMS: 200},
			`seed=7 pagingfiles=C:\pagefile.sys loadoptions="MININT INRAM" writerperiod=200`},
		{"two paging files", Config{PagingFiles: []string{`C:\pagefile.sys`, `C:\pagefile2.sys`}},
			`pagingfiles=C:\pagefile.sys,C:\pagefile2.sys`},
		{"seed zero is a seed", Config{Seed: Seed(0)}, "seed=0"},
		{"max seed", Config{Seed: Seed(^uint64(0))}, "seed=18446744073709551615"},
		{"tight loop", Config{WriterPeriodMS: WriterTightLoop}, "writerperiod=0"},
		{"single option", Config{LoadOptions: "MININT"}, `loadoptions="MININT"`},
		{"memory workload", Config{SwapperPages: 64, TrimAggressive: true, NoSwizzle: true},
			"swapperpages=64 trim=aggressive noswizzle"},
		{"reset once", Config{ResetOnce: true}, "resetonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.LoaderCmdline()
			if err != nil || got != tt.want {
				t.Errorf("LoaderCmdline() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoaderCmdlineRejects(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"three paging files", Config{PagingFiles: []string{`C:\a`, `C:\b`, `C:\c`}}, "PagingFiles"},
		{"comma in paging file", Config{PagingFiles: []string{`C:\a,b`}}, "PagingFiles"},
		{"space in paging file", Config{PagingFiles: []string{`C:\page file.sys`}}, "PagingFiles"},
		{"empty paging file", Config{PagingFiles: []string{""}}, "PagingFiles"},
		{"quote in options", Config{LoadOptions: `MININT "x"`}, "LoadOptions"},
		{"newline in options", Config{LoadOptions: "MININT\nx"}, "LoadOptions"},
		{"too few swapper pages", Config{SwapperPages: 63}, "SwapperPages"},
		{"too many swapper pages", Config{SwapperPages: 16385}, "SwapperPages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.LoaderCmdline()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Errorf("error = %v, want a ConfigError on %s", err, tt.field)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c, err := Config{GuestDir: "out"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.MemoryMB != 128 || c.Accel != qemu.AccelTCG || c.QEMU != "qemu-system-x86_64" {
		t.Errorf("defaults = %+v", c)
	}
	for _, bad := range []Config{
		{},
		{GuestDir: "out", Accel: "hvf"},
		{GuestDir: "out", MemoryMB: 4},
		{GuestDir: "out", WriterPeriodMS: -2},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("withDefaults accepted %+v", bad)
		}
	}
}

// commandLine is the QEMU command line Start runs for cfg, in the machine
// directory d with RAM in the file ram.
func commandLine(cfg Config, d qemu.RunDir, ram string) ([]string, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	mc, err := c.machine()
	if err != nil {
		return nil, err
	}
	return mc.Args(d, ram)
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
	args, err := commandLine(Config{GuestDir: "/g/out", Seed: Seed(7), LoadOptions: "MININT INRAM"},
		qemu.RunDirAt("/tmp/frost-qemu-1"), "/dev/shm/frost-1-ab")
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
		"-kernel": "/g/out/winload.elf",
		"-initrd": "/g/out/ntoskrnl.exe,/g/out/hal.dll",
		"-append": `seed=7 loadoptions="MININT INRAM"`,
	}
	for flag, want := range checks {
		if got := argAfter(t, args, flag, 0); got != want {
			t.Errorf("%s %q, want %q", flag, got, want)
		}
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
	cfg := Config{GuestDir: "/g/out", Accel: qemu.AccelKVM, Paused: true, GDBTCP: true, MemoryMB: 256,
		Kernel: "/g/out/assign/ntoskrnl.exe"}
	d, err := qemu.NewRunDir("frost-minint-test-", cfg.GDBTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	_, gdbAddr := d.GDBAddr()
	args, err := commandLine(cfg, d, "/dev/shm/r")
	if err != nil {
		t.Fatal(err)
	}
	if got := argAfter(t, args, "-cpu", 0); got != "qemu64,-pni,phys-bits=46" {
		t.Errorf("kvm -cpu %q", got)
	}
	if got := argAfter(t, args, "-gdb", 0); got != "tcp:"+gdbAddr || !strings.HasPrefix(gdbAddr, "127.0.0.1:") {
		t.Errorf("-gdb %q", got)
	}
	if got := argAfter(t, args, "-initrd", 0); got != "/g/out/assign/ntoskrnl.exe,/g/out/hal.dll" {
		t.Errorf("-initrd %q", got)
	}
	if !strings.Contains(argAfter(t, args, "-object", 0), "size=256M") || argAfter(t, args, "-m", 0) != "256" {
		t.Errorf("memory size not applied: %q", args)
	}
	if !slices.Contains(args, "-S") {
		t.Error("Paused without -S")
	}
}

func TestArgsPrivateRAMAndSMP(t *testing.T) {
	args, err := commandLine(Config{GuestDir: "/g/out", RAM: qemu.RAMPrivate, CPUs: 2}, qemu.RunDirAt("/tmp/d"), "")
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
	if _, err := (Config{GuestDir: "/g", CPUs: 9}).withDefaults(); err == nil {
		t.Error("CPUs: 9 accepted")
	}
}

func TestArgsRejectUnsafePaths(t *testing.T) {
	cfg := Config{GuestDir: "/g/out"}
	if _, err := commandLine(cfg, qemu.RunDirAt("/tmp/a,b"), "/dev/shm/r"); err == nil {
		t.Error("accepted a comma in the machine directory")
	}
	if _, err := commandLine(cfg, qemu.RunDirAt("/tmp/d"), "/dev/shm/a,b"); err == nil {
		t.Error("accepted a comma in the RAM file")
	}
	long := "/tmp/" + strings.Repeat("x", 110)
	if _, err := commandLine(cfg, qemu.RunDirAt(long), "/dev/shm/r"); err == nil {
		t.Error("accepted a socket path longer than sun_path")
	}
}

func TestCheckLoaderFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{GuestDir: dir}
	err := cfg.checkLoaderFiles()
	if err == nil || !strings.Contains(err.Error(), "make guest") {
		t.Errorf("missing guest: error %v, want a hint to run make guest", err)
	}
	for _, f := range []string{"winload.elf", "ntoskrnl.exe", "hal.dll"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
	}
	if err := cfg.checkLoaderFiles(); err != nil {
		t.Errorf("complete guest dir: %v", err)
	}
	comma := filepath.Join(t.TempDir(), "a,b")
	os.Mkdir(comma, 0o755)
	if err := (Config{GuestDir: comma}).checkLoaderFiles(); err == nil || !strings.Contains(err.Error(), "comma") {
		t.Errorf("comma in GuestDir: error %v, want it to explain the comma", err)
	}
}
