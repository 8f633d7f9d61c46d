package minint

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReportPrefix opens every machine-readable line mini-NT prints on COM1.
const ReportPrefix = "frost-guest: "

// Event is one `frost-guest: <event> key=value ...` line of the serial report.
type Event struct {
	Name   string
	Fields map[string]string
	// Line is the serial line the event came from, for error messages.
	Line string
}

// Get returns the value of key, or "" when the event has none.
func (e Event) Get(key string) string { return e.Fields[key] }

// Uint parses key as the report writes numbers: hexadecimal with 0x,
// decimal otherwise.
func (e Event) Uint(key string) (uint64, error) {
	v, ok := e.Fields[key]
	if !ok {
		return 0, fmt.Errorf("minint: event %s has no %s: %q", e.Name, key, e.Line)
	}
	var n uint64
	var err error
	if hex, ok := strings.CutPrefix(v, "0x"); ok {
		n, err = strconv.ParseUint(hex, 16, 64)
	} else {
		n, err = strconv.ParseUint(v, 10, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("minint: event %s: %s=%q is not a number: %q", e.Name, key, v, e.Line)
	}
	return n, nil
}

// Report is the guest's serial report, in the order it was printed.
type Report []Event

// First returns the first event called name.
func (r Report) First(name string) (Event, bool) {
	for _, e := range r {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// All returns every event called name.
func (r Report) All(name string) []Event {
	var out []Event
	for _, e := range r {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// ReportError is a report line that does not parse.
type ReportError struct {
	LineNo int
	Line   string
	Msg    string
}

func (e *ReportError) Error() string {
	return fmt.Sprintf("minint: serial line %d: %s: %q", e.LineNo, e.Msg, e.Line)
}

// ParseReport reads the frost-guest lines of a serial log and skips all
// other output. A malformed report line is an error: it means the guest
// printed something the tests would otherwise misread.
func ParseReport(r io.Reader) (Report, error) {
	var rep Report
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := ParseLine(sc.Text())
		if err != nil {
			err.(*ReportError).LineNo = n
			return rep, err
		}
		if ok {
			rep = append(rep, e)
		}
	}
	return rep, sc.Err()
}

// ParseLine parses one serial line. ok is false for lines that are not part
// of the report. Values run to the next space, or are double-quoted, and are
// taken verbatim: `name=\??\C:\pagefile.sys` keeps its backslashes.
func ParseLine(line string) (e Event, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	// The last event on the line: a reset cuts the event being printed,
	// and the next boot's first one follows on the same line
	// ("frost-guest: csrss-write count=frost-guest: loader ..."); the cut
	// one never finished.
	i := strings.LastIndex(line, ReportPrefix)
	if i < 0 {
		return Event{}, false, nil
	}
	bad := func(format string, args ...any) (Event, bool, error) {
		return Event{}, false, &ReportError{Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	rest := strings.TrimLeft(line[i+len(ReportPrefix):], " ")
	name, rest, _ := strings.Cut(rest, " ")
	if name == "" || strings.Contains(name, "=") {
		return bad("no event name")
	}
	e = Event{Name: name, Fields: map[string]string{}, Line: line}
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return e, true, nil
		}
		key, after, found := strings.Cut(rest, "=")
		if !found || key == "" || strings.Contains(key, " ") {
			return bad("field %q is not key=value", strings.SplitN(rest, " ", 2)[0])
		}
		var value string
		if q, ok := strings.CutPrefix(after, `"`); ok {
			end := strings.IndexByte(q, '"')
			if end < 0 {
				return bad("%s: unterminated quote", key)
			}
			value, rest = q[:end], q[end+1:]
			if rest != "" && rest[0] != ' ' {
				return bad("%s: junk after closing quote", key)
			}
		} else {
			value, rest, _ = strings.Cut(after, " ")
		}
		if _, dup := e.Fields[key]; dup {
			return bad("duplicate key %s", key)
		}
		e.Fields[key] = value
	}
}
