package minint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
)

// BugcheckError reports that the guest bugchecked while a caller waited.
type BugcheckError struct {
	Line string
}

func (e *BugcheckError) Error() string { return "minint: the guest bugchecked: " + e.Line }

// serialPoll is how often WaitSerial looks for new output. QEMU writes the
// file as the guest prints, and inotify buys nothing at this rate.
const serialPoll = 20 * time.Millisecond

// Matcher decides whether a serial line is the one a caller waits for.
type Matcher func(line string) bool

// MatchRegexp matches lines re matches.
func MatchRegexp(re *regexp.Regexp) Matcher { return re.MatchString }

// MatchEvent matches the report line of event name, e.g. "ready".
func MatchEvent(name string) Matcher {
	return func(line string) bool {
		e, ok, err := ParseLine(line)
		return ok && err == nil && e.Name == name
	}
}

// WaitSerial returns the first serial line, from the start of the log, that
// match accepts, waiting for the guest to print it. It fails at once with a
// *BugcheckError if the guest bugchecks first (so a caller that expects a
// bugcheck gets its line from the error), and with a *qemu.ExitError if
// QEMU exits first; a ctx deadline fails with the last line the guest
// printed, to show how far it got.
func (m *Machine) WaitSerial(ctx context.Context, match Matcher) (string, error) {
	var last string
	alive := func() error {
		select {
		case <-m.exited:
			return m.died(fmt.Sprintf("before the awaited serial line (last line: %q)", last))
		default:
			return nil
		}
	}
	return waitSerial(ctx, m.serial, match, alive, &last)
}

// WaitSerialFile is WaitSerial for a guest whose QEMU Start did not start
// (libvirt's): alive is polled, and once it returns an error the wait
// ends with that error after the last output has been checked.
func WaitSerialFile(ctx context.Context, path string, match Matcher, alive func() error) (string, error) {
	return waitSerial(ctx, path, match, alive, new(string))
}

func waitSerial(ctx context.Context, path string, match Matcher, alive func() error, last *string) (string, error) {
	f, err := openWhenCreated(ctx, path, alive)
	if err != nil {
		return "", err
	}
	defer f.Close()
	t := &tailer{r: f}
	tick := time.NewTicker(serialPoll)
	defer tick.Stop()
	for {
		// Ask before reading, so that after a death the final read still
		// sees everything the guest printed.
		dead := alive()
		line, found, err := t.scan(match)
		*last = t.last
		if found || err != nil {
			return line, err
		}
		if dead != nil {
			// The guest's last words may lack a newline.
			line, found, err := t.flush(match)
			*last = t.last
			if found || err != nil {
				return line, err
			}
			return "", alive()
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("minint: waiting for a serial line (last line: %q): %w", t.last, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// WaitEvent waits for the report event name and returns it parsed.
func (m *Machine) WaitEvent(ctx context.Context, name string) (Event, error) {
	line, err := m.WaitSerial(ctx, MatchEvent(name))
	if err != nil {
		return Event{}, err
	}
	e, _, err := ParseLine(line)
	return e, err
}

// Report parses the serial report printed so far, up to its last complete
// line: a running guest may be halfway through printing the next one, and
// half a report line does not parse (or parses to the wrong values).
func (m *Machine) Report() (Report, error) {
	data, err := os.ReadFile(m.serial)
	if err != nil {
		return nil, fmt.Errorf("minint: %w", err)
	}
	complete := data[:bytes.LastIndexByte(data, '\n')+1]
	rep, err := ParseReport(bytes.NewReader(complete))
	if err != nil {
		return rep, err
	}
	select {
	case <-m.exited:
		// No more output can come, and the guest's last words may lack a
		// newline: keep them if they are a whole report line.
		tail := string(data[len(complete):])
		if e, ok, err := ParseLine(tail); ok && err == nil {
			rep = append(rep, e)
		}
	default:
	}
	return rep, nil
}

// openWhenCreated opens path once QEMU has created it.
func openWhenCreated(ctx context.Context, path string, alive func() error) (*os.File, error) {
	for {
		f, err := os.Open(path)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("minint: %w", err)
		}
		if err := alive(); err != nil {
			return nil, fmt.Errorf("minint: %s never appeared: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("minint: waiting for %s: %w", path, context.Cause(ctx))
		case <-time.After(serialPoll):
		}
	}
}

// bugcheckMarker starts the line the kernel prints before it halts.
const bugcheckMarker = ReportPrefix + "bugcheck"

// maxPartialLine caps a line with no newline yet, so a guest that floods the
// serial port without newlines cannot grow the buffer without bound.
const maxPartialLine = 64 << 10

// tailer reads complete lines from a growing file.
type tailer struct {
	r       io.Reader
	partial []byte
	last    string
}

// check looks at one complete line.
func (t *tailer) check(line string, match Matcher) (string, bool, error) {
	t.last = line
	if strings.Contains(line, bugcheckMarker) {
		return line, false, &BugcheckError{Line: line}
	}
	if match(line) {
		return line, true, nil
	}
	return "", false, nil
}

// flush checks the unterminated last line, once no more output can come.
func (t *tailer) flush(match Matcher) (string, bool, error) {
	if len(t.partial) == 0 {
		return "", false, nil
	}
	line := strings.TrimRight(string(t.partial), "\r")
	t.partial = nil
	return t.check(line, match)
}

// scan reads what is new and checks each complete line.
func (t *tailer) scan(match Matcher) (string, bool, error) {
	buf := make([]byte, 32<<10)
	for {
		n, err := t.r.Read(buf)
		t.partial = append(t.partial, buf[:n]...)
		for {
			i := bytes.IndexByte(t.partial, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimRight(string(t.partial[:i]), "\r")
			t.partial = t.partial[i+1:]
			if line, found, err := t.check(line, match); found || err != nil {
				return line, found, err
			}
		}
		if len(t.partial) > maxPartialLine {
			t.partial = t.partial[len(t.partial)-maxPartialLine:]
		}
		if n == 0 || err != nil {
			// io.EOF just means "nothing more yet" on a growing file.
			if err != nil && !errors.Is(err, io.EOF) {
				return "", false, fmt.Errorf("minint: reading serial log: %w", err)
			}
			return "", false, nil
		}
	}
}
