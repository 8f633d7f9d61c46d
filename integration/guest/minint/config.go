package minint

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/frostvmi/frost/vmi/qemu"
)

// WriterTightLoop asks writer.exe to write without pause (writerperiod=0).
const WriterTightLoop = -1

// DefaultMemoryMB is the guest RAM size when Config.MemoryMB is 0.
const DefaultMemoryMB = 128

// minMemoryMB is the least RAM mini-NT boots in.
const minMemoryMB = 16

// Config describes one mini-NT boot: the guest's own options, then the
// machine's, which go to vmi/qemu as they are.
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

	// Network gives the machine an e1000 NIC on QEMU's user-mode network
	// (slirp: the guest is 10.0.2.15, the gateway 10.0.2.2 answers ARP
	// and ping and reaches the host's loopback, DNS is 10.0.2.3), which
	// mini-NT's miniport drives (integration/guest/README.md, Network).
	// Domains only: Machine (direct QEMU) has no NIC.
	Network bool
	// FilterDump, with Network, is where QEMU writes every frame of the
	// NIC's netdev, both directions, as a pcap file (QEMU's filter-dump
	// object): the oracle for what the guest sent and received. An
	// absolute path without commas; QEMU creates or truncates it.
	FilterDump string

	// MemoryMB is the guest RAM size; 0 means DefaultMemoryMB.
	MemoryMB int
	// CPUs is the vCPU count (-smp); 0 means 1. mini-NT runs on the
	// first; the others stay in wait-for-SIPI.
	CPUs int
	// RAM is how guest RAM is backed: qemu.RAMShared (the default) or
	// qemu.RAMPrivate, which only /proc/<pid>/mem or the gdbstub can read.
	RAM qemu.RAMBacking
	// Accel is qemu.AccelTCG (the default when empty) or qemu.AccelKVM.
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

// ConfigError reports a Config that mini-NT cannot boot with.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "minint: config " + e.Field + ": " + e.Msg }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// withDefaults fills the zero fields and checks the rest, the machine's
// fields included (vmi/qemu's checks), so a bad Config fails before Start
// waits for the TCG lock.
func (c Config) withDefaults() (Config, error) {
	if c.MemoryMB == 0 {
		c.MemoryMB = DefaultMemoryMB
	}
	if c.Accel == "" {
		c.Accel = qemu.AccelTCG
	}
	if c.QEMU == "" {
		c.QEMU = "qemu-system-x86_64"
	}
	switch {
	case c.GuestDir == "":
		return c, configErr("GuestDir", "empty: point it at the guest build output (integration/guest/out)")
	case c.MemoryMB < minMemoryMB:
		return c, configErr("MemoryMB", "%d MiB is too small for mini-NT", c.MemoryMB)
	case c.WriterPeriodMS < WriterTightLoop:
		return c, configErr("WriterPeriodMS", "%d: want a period in ms, 0 (default) or WriterTightLoop", c.WriterPeriodMS)
	}
	if err := c.checkFilterDump(); err != nil {
		return c, err
	}
	if _, err := c.machineFields().WithDefaults(); err != nil {
		return c, err
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
// first space (what follows is the module's arguments). vmi/qemu checks
// the same; this says it in mini-NT's terms (GuestDir, make guest).
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

// machineFields is the part of the machine that does not depend on the
// loader command line: what vmi/qemu checks.
func (c Config) machineFields() qemu.Config {
	loader, kernel, hal := c.loaderFiles()
	return qemu.Config{
		Kernel:  loader,
		Modules: []string{kernel, hal},
		// The guest's C: disk, made in the machine's directory by
		// Setup (Start) or NewDomain.
		Drives: []string{diskName},
		// A reset is a crash, except the one ResetOnce asks for.
		Reboot:   c.ResetOnce,
		MemoryMB: c.MemoryMB,
		CPUs:     c.CPUs,
		RAM:      c.RAM,
		Accel:    c.Accel,
		GDBTCP:   c.GDBTCP,
		Paused:   c.Paused,
		QEMU:     c.QEMU,
	}
}

// machine is the vmi/qemu machine that boots c.
func (c Config) machine() (qemu.Config, error) {
	cmdline, err := c.LoaderCmdline()
	if err != nil {
		return qemu.Config{}, err
	}
	m := c.machineFields()
	m.Append = cmdline
	return m, nil
}

// checkFilterDump: the dump needs the NIC, and QEMU resolves a relative
// path against its own working directory and splits options at commas.
func (c Config) checkFilterDump() error {
	switch {
	case c.FilterDump == "":
		return nil
	case !c.Network:
		return configErr("FilterDump", "set without Network: there is no NIC to dump")
	case !filepath.IsAbs(c.FilterDump):
		return configErr("FilterDump", "%q is not an absolute path (QEMU would resolve it against its own directory)", c.FilterDump)
	case strings.ContainsRune(c.FilterDump, ',') || strings.ContainsFunc(c.FilterDump, isControl):
		return configErr("FilterDump", "%q holds a comma or control character, which a QEMU option cannot carry", c.FilterDump)
	}
	return nil
}
