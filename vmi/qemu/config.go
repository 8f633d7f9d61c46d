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

// DefaultMemoryMB is the guest RAM size when Config.MemoryMB is 0 (QEMU's
// own default too).
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

// Config describes one x86-64 QEMU machine ("pc", i440fx) booted from a
// multiboot kernel. It says nothing about the guest beyond what QEMU
// loads: the guest's own conventions are its harness's.
type Config struct {
	// Kernel is the -kernel image: a 32-bit multiboot ELF, or a flat
	// binary with the a.out kludge (QEMU refuses x86-64 ELF files).
	Kernel string
	// Modules are the multiboot modules (-initrd), in order.
	Modules []string
	// Append is the kernel command line (-append).
	Append string
	// Drives are raw disk images, attached as IDE disks 0, 1, ... in
	// order. A relative path names a file in the machine's directory,
	// which Setup can make.
	Drives []string
	// Setup, when set, runs once the machine's private directory exists
	// and before QEMU starts, to make the files the guest needs there
	// (a disk image). The directory goes with the machine.
	Setup func(dir string) error
	// Reboot lets a guest that resets the machine boot again. Without it
	// QEMU exits instead (-no-reboot): a reset nobody asked for is a
	// crash, and a crash must not loop.
	Reboot bool

	// MemoryMB is the guest RAM size; 0 means DefaultMemoryMB.
	MemoryMB int
	// CPUs is the vCPU count (-smp); 0 means 1.
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

// ConfigError reports a Config that cannot be turned into a QEMU command.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "qemu: config " + e.Field + ": " + e.Msg }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// WithDefaults returns c with its zero fields filled in, or the first
// field Start would refuse. A harness calls it to fail before it waits
// for anything; Start calls it again.
func (c Config) WithDefaults() (Config, error) {
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
	case c.Kernel == "":
		return c, configErr("Kernel", "empty: QEMU needs a multiboot kernel to load")
	case c.MemoryMB < 0:
		return c, configErr("MemoryMB", "%d MiB", c.MemoryMB)
	case c.Accel != AccelTCG && c.Accel != AccelKVM:
		return c, configErr("Accel", "%q: want %q or %q", c.Accel, AccelTCG, AccelKVM)
	case c.CPUs < 0 || c.CPUs > 8:
		return c, configErr("CPUs", "%d: want 1..8", c.CPUs)
	case c.RAM != RAMShared && c.RAM != RAMPrivate:
		return c, configErr("RAM", "unknown backing %d", c.RAM)
	}
	if strings.ContainsFunc(c.Append, isControl) {
		return c, configErr("Append", "%q holds a control character", c.Append)
	}
	return c, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkBootFiles makes sure QEMU can load the kernel and name every
// module: its -initrd list splits on ',' and ends a file name at the first
// space (what follows is the module's arguments).
func (c Config) checkBootFiles() error {
	for i, p := range append([]string{c.Kernel}, c.Modules...) {
		field := "Kernel"
		if i > 0 {
			field = "Modules"
		}
		if i > 0 && strings.ContainsAny(p, ", ") {
			return configErr(field, "path %q holds a comma or space, which QEMU's -initrd cannot carry", p)
		}
		if strings.Contains(p, ",") {
			return configErr(field, "path %q holds a comma, which QEMU options cannot carry", p)
		}
		st, err := os.Stat(p)
		if err != nil {
			return configErr(field, "%v", err)
		}
		if !st.Mode().IsRegular() {
			return configErr(field, "%s is not a regular file", p)
		}
	}
	return nil
}

// maxSocketPath is what fits sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

// Args is QEMU's command line (without the binary) for a machine whose
// run directory is d, with RAM in the file ram (ignored under RAMPrivate).
// Start runs exactly this.
func (c Config) Args(d RunDir, ram string) ([]string, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, err
	}
	for _, s := range []string{d.qmp, d.vmiQMP, d.gdb} {
		if len(s) > maxSocketPath {
			return nil, configErr("TMPDIR", "socket path %q is longer than %d bytes", s, maxSocketPath)
		}
	}
	drives := make([]string, len(c.Drives))
	for i, p := range c.Drives {
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.dir, p)
		}
		drives[i] = p
	}
	// QEMU's option syntax uses ',' as its separator.
	for _, s := range append([]string{d.dir, ram}, drives...) {
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
		"-serial", "file:"+d.serial,
		"-qmp", "unix:"+d.qmp+",server=on,wait=off",
		"-qmp", "unix:"+d.vmiQMP+",server=on,wait=off",
		"-gdb", d.GDBArg(),
	)
	for i, p := range drives {
		a = append(a, "-drive", "file="+p+",format=raw,if=ide,index="+strconv.Itoa(i))
	}
	a = append(a, "-kernel", c.Kernel)
	if len(c.Modules) > 0 {
		a = append(a, "-initrd", strings.Join(c.Modules, ","))
	}
	a = append(a, "-append", c.Append)
	if !c.Reboot {
		a = append(a, "-no-reboot")
	}
	if c.Paused {
		a = append(a, "-S")
	}
	return a, nil
}
