package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Log writes events to one writer. A nil *Log records nothing, so callers
// need no check for "audit off".
type Log struct {
	mu  sync.Mutex
	w   io.Writer
	c   io.Closer
	now func() time.Time
}

// New writes events to w.
func New(w io.Writer) *Log { return &Log{w: w, now: time.Now} }

// Open opens the audit log named by --audit-log: "stderr" or "-" for
// standard error, else a file appended to (created 0600: the log names who
// touched which guest, which is not every local user's business). An
// existing file that others may write is refused, since a forged line there
// would read as frostd's.
func Open(path string) (*Log, error) {
	switch path {
	case "":
		return nil, errors.New("audit: empty path")
	case "-", "stderr":
		return New(os.Stderr), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("audit: %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		f.Close()
		return nil, fmt.Errorf("audit: %s is writable by others (mode %v): make it 0600 or 0640", path, fi.Mode().Perm())
	}
	l := New(f)
	l.c = f
	return l, nil
}

// Record writes e as one line, stamping its time if unset. The whole line
// goes out in one Write under the lock, so lines never interleave.
func (l *Log) Record(e Event) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = l.now()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&e); err != nil { // Encode ends the line with \n
		return fmt.Errorf("audit: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// Close closes the file Open opened (not stderr).
func (l *Log) Close() error {
	if l == nil || l.c == nil {
		return nil
	}
	return l.c.Close()
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
