package qemu

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Accelerators QEMU can run the guest with.
const (
	AccelTCG = "tcg"
	// AccelKVM works on our machines but through KVM's instruction
	// emulator, hundreds of times slower than TCG (platform-facts.md).
	AccelKVM = "kvm"
)

// WriterTightLoop asks writer.exe to write without pause (writerperiod=0).
const WriterTightLoop = -1

// DefaultMemoryMB is the guest RAM size when Config.MemoryMB is 0.
const DefaultMemoryMB = 128

// RAMBacking says how QEMU allocates guest RAM.
type RAMBacking int

const (
	// RAMShared puts guest RAM in a shared file under /dev/shm, which
	// Frost can map (the default).
	RAMShared RAMBacking = iota
	// RAMPrivate leaves guest RAM in QEMU's anonymous memory.
	RAMPrivate
)

// Config describes one mini-NT boot.
type Config struct {
	// GuestDir is the guest's build output (integration/guest/out).
	GuestDir string
	// Kernel replaces GuestDir/ntoskrnl.exe, e.g. with the "assign"
	// variant in GuestDir/assign/ntoskrnl.exe.
	Kernel string

	// Seed fixes the KASLR seed; nil lets the loader draw one from the TSC.
	Seed *uint64
	// PagingFiles is the registry value PagingFiles: zero, one or two
	// volume paths such as `C:\pagefile.sys`.
	PagingFiles []string
	// LoadOptions is the loader block's LoadOptions, e.g. "MININT INRAM".
	LoadOptions string
	// WriterPeriodMS is writer.exe's period. 0 keeps the guest's default
	// (1000 ms); WriterTightLoop makes it write without pause.
	WriterPeriodMS int

	// SwapperPages is swapper.exe's pattern page count (64..16384); 0
	// keeps the guest's default (2048).
	SwapperPages int
	// TrimAggressive lets the guest trim empty page-table pages too, so
	// PDEs go to transition and the paging file (trim=aggressive).
	TrimAggressive bool
	// NoSwizzle turns the guest's L1TF PTE swizzling off (noswizzle).
	NoSwizzle bool
	// ResetOnce makes the guest reset the machine once during phase 1
	// (resetonce); QEMU then reboots it instead of exiting.
	ResetOnce bool

	// MemoryMB is the guest RAM size; 0 means DefaultMemoryMB.
	MemoryMB int
	// CPUs is the vCPU count (-smp); 0 means 1. mini-NT runs on the
	// first; the others stay in wait-for-SIPI.
	CPUs int
	// RAM is how guest RAM is backed: RAMShared (the default) or
	// RAMPrivate, which only /proc/<pid>/mem or the gdbstub can read.
	RAM RAMBacking
	// Accel is AccelTCG (the default when empty) or AccelKVM.
	Accel string
	// GDBTCP puts the gdbstub on a loopback TCP port instead of a unix
	// socket. Any local user can connect to such a port: use it only
	// when a tool cannot speak to a unix socket.
	GDBTCP bool
	// Paused starts the vCPU stopped (-S); Machine.Resume starts it.
	Paused bool

	// QEMU is the emulator binary; empty means qemu-system-x86_64 on PATH.
	QEMU string
}

// Seed returns a pointer to s, for Config.Seed literals.
func Seed(s uint64) *uint64 { return &s }

// ConfigError reports a Config that cannot be turned into a QEMU command.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "qemu: config " + e.Field + ": " + e.Msg }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// withDefaults fills the zero fields and checks the rest.
func (c Config) withDefaults() (Config, error) {
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.Accel == "" {
		c.Accel = AccelTCG
	}
	if c.QEMU == "" {
		c.QEMU = "qemu-system-x86_64"
	}
	switch {
	case c.GuestDir == "":
		return c, configErr("GuestDir", "empty: point it at the guest build output (integration/guest/out)")
	case c.MemoryMB < 16:
		return c, configErr("MemoryMB", "%d MiB is too small for mini-NT", c.MemoryMB)
	case c.Accel != AccelTCG && c.Accel != AccelKVM:
		return c, configErr("Accel", "%q: want %q or %q", c.Accel, AccelTCG, AccelKVM)
	case c.CPUs < 0 || c.CPUs > 8:
		return c, configErr("CPUs", "%d: want 1..8", c.CPUs)
	case c.RAM != RAMShared && c.RAM != RAMPrivate:
		return c, configErr("RAM", "unknown backing %d", c.RAM)
	case c.WriterPeriodMS < WriterTightLoop:
		return c, configErr("WriterPeriodMS", "%d: want a period in ms, 0 (default) or WriterTightLoop", c.WriterPeriodMS)
	}
	return c, nil
}

// loaderFiles returns the multiboot kernel and the two modules, in the
// order winload expects them: the kernel image, then hal.dll.
func (c Config) loaderFiles() (loader, kernel, hal string) {
	kernel = c.Kernel
	if kernel == "" {
		kernel = filepath.Join(c.GuestDir, "ntoskrnl.exe")
	}
	return filepath.Join(c.GuestDir, "winload.elf"), kernel, filepath.Join(c.GuestDir, "hal.dll")
}

// checkLoaderFiles makes sure the guest was built and that QEMU can name
// every module: its -initrd list splits on ',' and ends a file name at the
// first space (what follows is the module's arguments).
func (c Config) checkLoaderFiles() error {
	loader, kernel, hal := c.loaderFiles()
	for _, p := range []string{loader, kernel, hal} {
		if strings.ContainsAny(p, ", ") {
			return configErr("GuestDir", "path %q holds a comma or space, which QEMU's -initrd cannot carry", p)
		}
		st, err := os.Stat(p)
		if err != nil {
			return configErr("GuestDir", "%v (run `make guest`)", err)
		}
		if !st.Mode().IsRegular() {
			return configErr("GuestDir", "%s is not a regular file", p)
		}
	}
	return nil
}

// LoaderCmdline is the -append string winload parses: space-separated
// options whose values may be double-quoted.
func (c Config) LoaderCmdline() (string, error) {
	var opts []string
	if c.Seed != nil {
		opts = append(opts, "seed="+strconv.FormatUint(*c.Seed, 10))
	}
	if len(c.PagingFiles) > 2 {
		return "", configErr("PagingFiles", "%d paging files; mini-NT takes one or two", len(c.PagingFiles))
	}
	for _, p := range c.PagingFiles {
		if p == "" || strings.ContainsAny(p, `, "`) || strings.ContainsFunc(p, isControl) {
			return "", configErr("PagingFiles", "%q: want a volume path like C:\\pagefile.sys, without commas, spaces or quotes", p)
		}
	}
	if len(c.PagingFiles) > 0 {
		opts = append(opts, "pagingfiles="+strings.Join(c.PagingFiles, ","))
	}
	if c.LoadOptions != "" {
		// winload's quoting has no escapes, so a quote cannot be carried.
		if strings.ContainsRune(c.LoadOptions, '"') || strings.ContainsFunc(c.LoadOptions, isControl) {
			return "", configErr("LoadOptions", "%q holds a double quote or control character", c.LoadOptions)
		}
		opts = append(opts, `loadoptions="`+c.LoadOptions+`"`)
	}
	if c.SwapperPages != 0 {
		if c.SwapperPages < 64 || c.SwapperPages > 16384 {
			return "", configErr("SwapperPages", "%d: want 64..16384", c.SwapperPages)
		}
		opts = append(opts, "swapperpages="+strconv.Itoa(c.SwapperPages))
	}
	if c.TrimAggressive {
		opts = append(opts, "trim=aggressive")
	}
	if c.NoSwizzle {
		opts = append(opts, "noswizzle")
	}
	if c.ResetOnce {
		opts = append(opts, "resetonce")
	}
	switch {
	case c.WriterPeriodMS == WriterTightLoop:
		opts = append(opts, "writerperiod=0")
	case c.WriterPeriodMS > 0:
		opts = append(opts, "writerperiod="+strconv.Itoa(c.WriterPeriodMS))
	}
	return strings.Join(opts, " "), nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// maxSocketPath is what fits sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

// prepare fills in defaults and checks everything about cfg that can be
// checked before anything is created.
func (c Config) prepare() (Config, error) {
	c, err := c.withDefaults()
	if err != nil {
		return c, err
	}
	if _, err := c.LoaderCmdline(); err != nil {
		return c, err
	}
	return c, c.checkLoaderFiles()
}

// args builds QEMU's command line for a guest in g with RAM in the file ram.
func (c Config) args(g guestFiles, ram string) ([]string, error) {
	cmdline, err := c.LoaderCmdline()
	if err != nil {
		return nil, err
	}
	for _, s := range []string{g.qmp, g.vmiQMP, g.gdb} {
		if len(s) > maxSocketPath {
			return nil, configErr("TMPDIR", "socket path %q is longer than %d bytes", s, maxSocketPath)
		}
	}
	// QEMU's option syntax uses ',' as its separator.
	for _, s := range []string{g.dir, ram} {
		if strings.Contains(s, ",") {
			return nil, configErr("TMPDIR", "path %q holds a comma, which QEMU options cannot carry", s)
		}
	}
	cpu := "qemu64,phys-bits=46"
	if c.Accel == AccelKVM {
		// The model measured to start cleanly under our kvm_pvm hosts, where
		// -cpu host and -cpu max abort (platform-facts.md).
		cpu = "qemu64,-pni,phys-bits=46"
	}
	loader, kernel, hal := c.loaderFiles()
	mem := strconv.Itoa(c.MemoryMB)
	a := []string{
		"-machine", "pc", // i440fx: q35 has no legacy IDE
		"-accel", c.Accel,
		"-cpu", cpu,
		"-m", mem,
	}
	if c.RAM == RAMShared {
		a = append(a,
			"-object", "memory-backend-file,id=mem,size="+mem+"M,mem-path="+ram+",share=on",
			"-machine", "memory-backend=mem")
	}
	if c.CPUs > 1 {
		a = append(a, "-smp", strconv.Itoa(c.CPUs))
	}
	a = append(a,
		"-display", "none",
		"-monitor", "none",
		"-nic", "none",
		"-serial", "file:"+g.serial,
		"-qmp", "unix:"+g.qmp+",server=on,wait=off",
		"-qmp", "unix:"+g.vmiQMP+",server=on,wait=off",
		"-gdb", g.gdbArg(),
		"-drive", "file="+g.disk+",format=raw,if=ide,index=0",
		"-kernel", loader,
		"-initrd", kernel+","+hal,
		"-append", cmdline,
	)
	if !c.ResetOnce {
		// A guest that resets has crashed: end QEMU rather than loop.
		a = append(a, "-no-reboot")
	}
	if c.Paused {
		a = append(a, "-S")
	}
	return a, nil
}
