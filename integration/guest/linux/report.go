package linuxguest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// ReportPrefix opens every line of the guest's report (not the writer's
// lines, which are exactly what it writes).
const ReportPrefix = "frost-linux: "

// Report is what the guest said on its serial port, in order.
type Report struct {
	// Symbols are the kernel addresses /init found in /proc/kallsyms.
	Symbols map[string]uint64
	// WriterPID and NoisePID are the processes' own pids (0 until they
	// said so).
	WriterPID, NoisePID uint64
	// BootUptime is the kernel's uptime (seconds) when /init started.
	BootUptime string
	// Ready is set once /init has started both processes.
	Ready bool
	// PCID says whether the vCPU offers PCIDs, PTI whether the kernel
	// isolates its page tables from user mode; Meltdown is the kernel's
	// /sys/devices/system/cpu/vulnerabilities/meltdown ("Not affected",
	// "Mitigation: PTI").
	PCID, PTI bool
	Meltdown  string
	// Writes are the writer's counters in the order printed: 1, 2, ...
	// ParseReport checks that none is missing, except where a garbled
	// line stands in for it.
	Writes  []uint64
	written map[uint64]bool
	// garbledSince counts garbled lines since the last whole writer line:
	// each may have been one of its lines.
	garbledSince int
	// Garbled are serial lines that hold "frost-write" but are not a
	// whole writer line: a kernel message printed into the middle of one.
	Garbled []string
}

// Symbol returns a reported symbol's address.
func (r *Report) Symbol(name string) (uint64, error) {
	a, ok := r.Symbols[name]
	if !ok {
		return 0, fmt.Errorf("linuxguest: the guest did not report symbol %s (reported: %v)", name, r.Symbols)
	}
	return a, nil
}

// LastWrite is the counter of the last whole writer line, 0 before the
// first.
func (r *Report) LastWrite() uint64 {
	if len(r.Writes) == 0 {
		return 0
	}
	return r.Writes[len(r.Writes)-1]
}

// Wrote says whether the writer printed line (as WriteLine gives it).
func (r *Report) Wrote(line string) bool {
	n, ok := ParseWrite(line)
	return ok && line == WriteLine(n) && r.written[n]
}

// writeRE is one writer line, as printed; the serial port adds "\r".
var writeRE = regexp.MustCompile(`^frost-write ([0-9]{6}) ` + regexp.QuoteMeta(WritePayload) + `\r?\n?$`)

// ParseWrite returns the counter of a writer line (with or without its
// newline), and false for anything else.
func ParseWrite(line string) (uint64, bool) {
	m := writeRE.FindStringSubmatch(line)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	return n, err == nil && n > 0
}

// ReportError is a report line that does not parse: the guest printed
// something the tests would otherwise misread.
type ReportError struct {
	LineNo int
	Line   string
	Msg    string
}

func (e *ReportError) Error() string {
	return fmt.Sprintf("linuxguest: serial line %d: %s: %q", e.LineNo, e.Msg, e.Line)
}

// ReadReport parses the serial log at path up to its last complete line:
// a running guest may be halfway through the next one.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("linuxguest: %w", err)
	}
	return ParseReport(bytes.NewReader(data[:bytes.LastIndexByte(data, '\n')+1]))
}

// ParseReport reads a serial log. Kernel messages and other output are
// skipped; a malformed report line, a symbol reported twice at two
// addresses, or writer counters that do not follow each other are errors.
func ParseReport(r io.Reader) (*Report, error) {
	rep := &Report{Symbols: map[string]uint64{}, written: map[uint64]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if err := rep.add(line); err != nil {
			return rep, &ReportError{LineNo: n, Line: line, Msg: err.Error()}
		}
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("linuxguest: reading the serial log: %w", err)
	}
	return rep, nil
}

func (r *Report) add(line string) error {
	if w, ok := ParseWrite(line); ok {
		last := r.LastWrite()
		// A line a kernel message broke is garbled, not lost: it may
		// stand for one missing counter, no more.
		if w <= last || w-last-1 > uint64(r.garbledSince) {
			return fmt.Errorf("writer line %d where %d was due", w, last+1)
		}
		r.Writes = append(r.Writes, w)
		r.written[w] = true
		r.garbledSince = 0
		return nil
	}
	i := strings.Index(line, ReportPrefix)
	if i < 0 {
		if strings.Contains(line, "frost-write") {
			r.Garbled = append(r.Garbled, line)
			r.garbledSince++
		}
		return nil
	}
	name, fields, err := parseEvent(line[i+len(ReportPrefix):])
	if err != nil {
		return err
	}
	switch name {
	case "writer-done":
	case "boot":
		r.BootUptime = fields["uptime"]
	case "sym":
		addr, err := strconv.ParseUint(strings.TrimPrefix(fields["addr"], "0x"), 16, 64)
		if err != nil || fields["name"] == "" || !strings.HasPrefix(fields["addr"], "0x") {
			return fmt.Errorf("sym wants name=NAME addr=0xHEX")
		}
		if old, dup := r.Symbols[fields["name"]]; dup && old != addr {
			return fmt.Errorf("symbol %s at both %#x and %#x", fields["name"], old, addr)
		}
		r.Symbols[fields["name"]] = addr
	case "writer", "noise":
		pid, err := strconv.ParseUint(fields["pid"], 10, 32)
		if err != nil || pid == 0 {
			return fmt.Errorf("%s wants pid=N", name)
		}
		if name == "writer" {
			r.WriterPID = pid
		} else {
			r.NoisePID = pid
		}
	case "cpu":
		r.PCID = fields["pcid"] == "yes"
		r.PTI = fields["pti"] == "yes"
		r.Meltdown = fields["meltdown"]
	case "ready":
		r.Ready = true
	default:
		return fmt.Errorf("unknown event %q", name)
	}
	return nil
}

// parseEvent splits "name key=value key=\"quoted value\" ...".
func parseEvent(s string) (string, map[string]string, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if name == "" || strings.Contains(name, "=") {
		return "", nil, fmt.Errorf("no event name")
	}
	fields := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return name, fields, nil
		}
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.Contains(key, " ") {
			return "", nil, fmt.Errorf("field %q is not key=value", strings.SplitN(rest, " ", 2)[0])
		}
		var value string
		if q, ok := strings.CutPrefix(after, `"`); ok {
			end := strings.IndexByte(q, '"')
			if end < 0 {
				return "", nil, fmt.Errorf("%s: unterminated quote", key)
			}
			value, rest = q[:end], q[end+1:]
			if rest != "" && rest[0] != ' ' {
				return "", nil, fmt.Errorf("%s: junk after the closing quote", key)
			}
		} else {
			value, rest, _ = strings.Cut(after, " ")
		}
		if _, dup := fields[key]; dup {
			return "", nil, fmt.Errorf("duplicate key %s", key)
		}
		fields[key] = value
	}
}
