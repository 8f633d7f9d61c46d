package linuxguest

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// What the guest runs: /init (busybox ash as pid 1) reports the kernel
// symbols and the CPU's Meltdown mitigation, then starts two processes
// and waits on them forever (pid 1 must not exit: the kernel would panic).
//
//   - /writer prints WriteLine(n) for n = 1, 2, ... every WriterPeriod,
//     with ash's printf builtin: it formats into stdio's stdout buffer,
//     which ash flushes after each builtin, so each line is exactly one
//     ksys_write whose buffer (RSI) holds the line and whose length (RDX)
//     is its length, newline included (checked with strace on the
//     packaged busybox). That buffer is allocated once and holds the line
//     until the next one overwrites it, so a reader that comes after the
//     hit, with the guest running on, still finds it. echo would not do:
//     busybox's echo mallocs its line and frees it right after the write,
//     and malloc's free list then overwrites the line's first 16 bytes.
//   - /noise writes "frost-noise N" lines to /dev/null every NoisePeriod,
//     so that a breakpoint on ksys_write also fires in another address
//     space than the writer's, and a CR3 filter has something to filter.
//
// Between writes both run usleep, which ash forks: those children are
// short-lived address spaces of their own and write nothing.

// Config is what the guest does once booted.
type Config struct {
	// WriterPeriod is the pause between the writer's lines (default
	// 200 ms); NoisePeriod the noise process's (default 100 ms).
	WriterPeriod, NoisePeriod time.Duration
	// Symbols are the kernel symbols /init prints from /proc/kallsyms
	// (default DefaultSymbols).
	Symbols []string
	// Cmdline is the kernel command line (default DefaultCmdline).
	Cmdline string
	// PTI adds pti=on to the command line. The qemu64 vCPU says it is
	// AuthenticAMD, which Linux deems not vulnerable to Meltdown, so by
	// default the guest runs without page-table isolation, as on an AMD
	// host; with PTI every process has the kernel's page tables and a
	// user copy 4 KiB above them, as on the Intel hosts that need it.
	// (TCG has no PCID in QEMU 7.2, so CR3 carries none either way.)
	PTI bool
}

// DefaultSymbols are what the tests need: ksys_write (every write(2)),
// _raw_spin_lock (hit constantly, for a breakpoint stream), and the text
// section's start.
var DefaultSymbols = []string{"_text", "_stext", "ksys_write", "_raw_spin_lock"}

// DefaultCmdline boots Debian's kernel to /init quickly and quietly under
// TCG, and leaves its mitigations at their defaults (PTI, where the CPU
// model calls for it, is what a real user's guest has):
//   - console=ttyS0: the kernel and /init talk on the serial port, which
//     libvirt writes to a file;
//   - nokaslr: the kernel sits at its link address, so its text is where
//     the test expects it run after run (the addresses still come from
//     the guest's own /proc/kallsyms);
//   - quiet: only warnings and worse from the kernel, so its messages do
//     not crowd the report (a boot that fails still says why);
//   - panic=-1: a panic reboots at once, and the domain, which destroys
//     itself on reboot, ends instead of hanging.
const DefaultCmdline = "console=ttyS0 nokaslr quiet panic=-1"

// WritePayload ends every writer line; the tests compare it byte for byte.
const WritePayload = "frost-linux-writer-payload-0123456789abcdef"

// WriteLine is the writer's n-th line as it sits in the write(2) buffer:
// a fixed-width counter, so that every line has the same length.
func WriteLine(n uint64) string { return fmt.Sprintf("frost-write %06d %s\n", n, WritePayload) }

// maxWrites is where the writer's six-digit counter would overflow; at
// 200 ms a line that is 55 hours.
const maxWrites = 999999

func (c Config) withDefaults() (Config, error) {
	if c.WriterPeriod == 0 {
		c.WriterPeriod = 200 * time.Millisecond
	}
	if c.NoisePeriod == 0 {
		c.NoisePeriod = 100 * time.Millisecond
	}
	if c.Symbols == nil {
		c.Symbols = DefaultSymbols
	}
	if c.Cmdline == "" {
		c.Cmdline = DefaultCmdline
	}
	if c.PTI && !strings.Contains(" "+c.Cmdline+" ", " pti=on ") {
		c.Cmdline += " pti=on"
	}
	if c.WriterPeriod < time.Millisecond || c.NoisePeriod < time.Millisecond {
		return c, fmt.Errorf("linuxguest: periods must be at least 1ms (usleep's unit is µs, and a busier guest starves the test): writer %v, noise %v", c.WriterPeriod, c.NoisePeriod)
	}
	if len(c.Symbols) == 0 {
		return c, fmt.Errorf("linuxguest: no symbols to report")
	}
	for _, s := range c.Symbols {
		if !symbolName.MatchString(s) {
			return c, fmt.Errorf("linuxguest: symbol %q: only letters, digits, '_' and '.' (it goes into a grep pattern)", s)
		}
	}
	return c, nil
}

var symbolName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// initScript is pid 1. It mounts what /proc/kallsyms and the writers
// need, reports (the "pti" CPU flag is the kernel's own: it is set when
// page-table isolation is on, whatever the reason), and starts the two
// processes. kallsyms is filtered by
// grep, not by a shell loop: ash's read takes a byte per system call, and
// kallsyms is megabytes.
func initScript(c Config) string {
	pattern := strings.ReplaceAll(strings.Join(c.Symbols, "|"), ".", `\.`)
	return `#!/bin/sh
# pid 1 of Frost's Linux test guest (integration/guest/linux).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
read -r up idle </proc/uptime
echo "` + ReportPrefix + `boot uptime=$up"
grep -E ' (` + pattern + `)$' /proc/kallsyms | while read -r addr type name; do
	echo "` + ReportPrefix + `sym name=$name type=$type addr=0x$addr"
done
if grep -qw pcid /proc/cpuinfo; then pcid=yes; else pcid=no; fi
if grep -qw pti /proc/cpuinfo; then pti=yes; else pti=no; fi
echo "` + ReportPrefix + `cpu pcid=$pcid pti=$pti meltdown=\"$(cat /sys/devices/system/cpu/vulnerabilities/meltdown)\""
/noise &
/writer &
echo "` + ReportPrefix + `ready"
while :; do
	wait
	usleep 1000000
done
`
}

// writerScript prints the counted lines. n counts from 1000000 and the
// leading 1 is cut off, which is ash's way to a zero-padded counter.
func writerScript(c Config) string {
	return fmt.Sprintf(`#!/bin/sh
echo "%swriter pid=$$"
n=1000000
while [ $n -lt %d ]; do
	n=$((n+1))
	printf 'frost-write %%s %s\n' "${n#1}"
	usleep %d
done
echo "%swriter done"
`, ReportPrefix, 1000000+maxWrites, WritePayload, c.WriterPeriod.Microseconds(), ReportPrefix)
}

// noiseScript writes in an address space of its own, to /dev/null.
func noiseScript(c Config) string {
	return fmt.Sprintf(`#!/bin/sh
echo "%snoise pid=$$"
n=0
while :; do
	n=$((n+1))
	echo "frost-noise $n" >/dev/null
	usleep %d
done
`, ReportPrefix, c.NoisePeriod.Microseconds())
}
