package minint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi/qemu"
)

// fakeQEMU stands in for QEMU's side of a Machine: the test closes exited
// and says how QEMU ended.
type fakeQEMU struct {
	exited  chan struct{}
	stderr  string
	waitErr error
}

func (q *fakeQEMU) died(when string) error {
	<-q.exited
	return &qemu.ExitError{When: when, Err: q.waitErr, Stderr: q.stderr}
}

// fakeMachineIn is a Machine without QEMU whose serial log is dir's
// serial.log, which the test writes.
func fakeMachineIn(dir string) (*Machine, *fakeQEMU) {
	q := &fakeQEMU{exited: make(chan struct{})}
	return &Machine{serial: filepath.Join(dir, "serial.log"), exited: q.exited, died: q.died}, q
}

// fakeMachine is fakeMachineIn with the log created.
func fakeMachine(t *testing.T) (*Machine, *os.File, *fakeQEMU) {
	t.Helper()
	m, q := fakeMachineIn(t.TempDir())
	f, err := os.Create(m.serial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return m, f, q
}

func TestWaitSerialFollowsTheLog(t *testing.T) {
	m, f, _ := fakeMachine(t)
	f.WriteString("frost-guest: loader seed=1\r\nfrost-guest: kernel base=0x1\r\nfrost-guest: rea")
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.WriteString("dy\r\n")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := m.WaitEvent(ctx, "ready")
	if err != nil || e.Name != "ready" {
		t.Fatalf("WaitEvent(ready) = %+v, %v", e, err)
	}
	// A second wait starts from the top of the log again.
	line, err := m.WaitSerial(ctx, MatchRegexp(regexp.MustCompile(`kernel base=`)))
	if err != nil || line != "frost-guest: kernel base=0x1" {
		t.Errorf("WaitSerial(kernel) = %q, %v", line, err)
	}
}

func TestWaitSerialFailsFastOnBugcheck(t *testing.T) {
	m, f, _ := fakeMachine(t)
	f.WriteString("frost-guest: kernel base=0x1\nfrost-guest: bugcheck code=0x50 p1=0x0 p2=0x0 p3=0x0 p4=0x0\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := m.WaitEvent(ctx, "ready")
	var bc *BugcheckError
	if !errors.As(err, &bc) || bc.Line != "frost-guest: bugcheck code=0x50 p1=0x0 p2=0x0 p3=0x0 p4=0x0" {
		t.Errorf("error = %v, want a *BugcheckError with the line", err)
	}
}

func TestWaitSerialFailsFastWhenQEMUExits(t *testing.T) {
	m, f, q := fakeMachine(t)
	f.WriteString("frost-guest: kernel base=0x1\nlast words")
	q.stderr = "qemu-system-x86_64: something broke\n"
	q.waitErr = errors.New("exit status 1")
	close(q.exited)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := m.WaitEvent(ctx, "ready")
	var ee *qemu.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("error = %v, want an *ExitError", err)
	}
	for _, want := range []string{"something broke", "last words", "exit status 1"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(err.Error()) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWaitSerialHonoursDeadline(t *testing.T) {
	m, f, _ := fakeMachine(t)
	f.WriteString("frost-guest: kernel base=0x1\n")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := m.WaitEvent(ctx, "ready")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want the deadline", err)
	}
}

func TestWaitSerialBeforeTheLogExists(t *testing.T) {
	dir := t.TempDir()
	m, _ := fakeMachineIn(dir)
	go func() {
		time.Sleep(50 * time.Millisecond)
		os.WriteFile(filepath.Join(dir, "serial.log"), []byte("frost-guest: ready\n"), 0o644)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Error(err)
	}
}

// TestReportSkipsPartialLine: a report read while the guest prints stops at
// the last complete line; once QEMU has exited, a final unterminated line
// counts if it is whole.
func TestReportSkipsPartialLine(t *testing.T) {
	m, f, q := fakeMachine(t)
	// Half a quoted value: as a line of its own it would not parse.
	f.WriteString("frost-guest: kernel base=0x1\r\nfrost-guest: process pid=4 name=\"Sys")
	rep, err := m.Report()
	if err != nil {
		t.Fatalf("Report with a line being printed: %v", err)
	}
	if len(rep) != 1 || rep[0].Name != "kernel" {
		t.Fatalf("Report = %+v, want only the kernel line", rep)
	}
	f.WriteString("tem\"\r\nfrost-guest: rea")
	if rep, err := m.Report(); err != nil || len(rep) != 2 || rep[1].Get("name") != "System" {
		t.Fatalf("Report after the line completed = %+v, %v", rep, err)
	}
	f.WriteString("dy")
	close(q.exited)
	rep, err = m.Report()
	if err != nil || len(rep) != 3 || rep[2].Name != "ready" {
		t.Fatalf("Report after exit = %+v, %v; want the unterminated ready line too", rep, err)
	}
}
