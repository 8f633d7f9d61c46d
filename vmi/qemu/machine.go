package qemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine is a running (or exited) QEMU.
type Machine struct {
	RunDir
	cfg     Config
	ram     string // the guest RAM file in shmDir
	args    []string
	cmd     *exec.Cmd
	stderr  *tailBuffer
	exited  chan struct{} // closed once QEMU has been reaped
	waitErr error         // QEMU's exit status; valid after exited closes

	stopOnce sync.Once
	stopErr  error
}

// shmDir holds guest RAM files: a tmpfs, so mapping them is mapping RAM.
const shmDir = "/dev/shm"

// Start runs QEMU as cfg says. It returns once QEMU has opened its QMP
// and gdbstub sockets, so both are ready to dial. On error everything
// already made is removed again.
func Start(ctx context.Context, cfg Config) (_ *Machine, err error) {
	if cfg, err = cfg.WithDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.checkBootFiles(); err != nil {
		return nil, err
	}
	qemuPath, err := exec.LookPath(cfg.QEMU)
	if err != nil {
		return nil, fmt.Errorf("qemu: %w (run `make deps`)", err)
	}

	m := &Machine{cfg: cfg, exited: make(chan struct{}), stderr: &tailBuffer{max: 16 << 10}}
	defer func() {
		if err != nil {
			m.Stop()
		}
	}()
	if m.RunDir, err = NewRunDir("frost-qemu-", cfg.GDBTCP); err != nil {
		return nil, err
	}
	if cfg.Setup != nil {
		if err := cfg.Setup(m.Dir()); err != nil {
			return nil, err
		}
	}
	if cfg.RAM == RAMShared {
		if m.ram, err = createRAMFile(); err != nil {
			return nil, err
		}
	}
	if m.args, err = cfg.Args(m.RunDir, m.ram); err != nil {
		return nil, err
	}

	m.cmd = exec.Command(qemuPath, m.args...)
	m.cmd.Stdout = m.stderr
	m.cmd.Stderr = m.stderr
	// If the test binary dies, QEMU must not outlive it holding a CPU.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		close(m.exited)
		return nil, fmt.Errorf("qemu: starting %s: %w", qemuPath, err)
	}
	go func() {
		m.waitErr = m.cmd.Wait()
		close(m.exited)
	}()
	if err := m.waitSockets(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// createRAMFile makes the guest RAM file with mode 0600 before QEMU opens
// it: QEMU would create it world-readable, and it is the guest's memory.
func createRAMFile() (string, error) {
	if st, err := os.Stat(shmDir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("qemu: %s is not a directory; guest RAM needs a tmpfs file there", shmDir)
	}
	var b [8]byte
	rand.Read(b[:])
	path := filepath.Join(shmDir, fmt.Sprintf("frost-%d-%s", os.Getpid(), hex.EncodeToString(b[:])))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("qemu: guest RAM file: %w", err)
	}
	return path, f.Close()
}

// waitSockets waits for QEMU to create its listening sockets, which it does
// before running the guest, so callers can dial them as soon as Start
// returns.
func (m *Machine) waitSockets(ctx context.Context) error {
	want := []string{m.qmp, m.vmiQMP}
	if m.gdb != "" {
		want = append(want, m.gdb)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, p := range want {
			if _, err := os.Stat(p); err != nil {
				ready = false
			}
		}
		if ready {
			return nil
		}
		select {
		case <-m.exited:
			return m.ExitErr("before opening its sockets")
		case <-ctx.Done():
			return fmt.Errorf("qemu: waiting for QEMU's sockets: %w", context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// ExitError reports that QEMU exited when it should not have.
type ExitError struct {
	When   string
	Err    error  // from exec.Cmd.Wait
	Stderr string // the tail of QEMU's output
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("qemu: QEMU exited %s: %v", e.When, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "\n" + s
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// ExitErr waits until QEMU has exited and returns an *ExitError that says
// it exited when (e.g. "before the guest was ready"), with its status and
// the tail of its output. A caller that watches Exited uses it to say why
// the wait it was in ended.
func (m *Machine) ExitErr(when string) error {
	<-m.exited
	err := m.waitErr
	if err == nil {
		err = errors.New("exit status 0")
	}
	return &ExitError{When: when, Err: err, Stderr: m.stderr.String()}
}

// QMPSocket is QEMU's QMP unix socket.
func (m *Machine) QMPSocket() string { return m.qmp }

// TargetQMPSocket is a second QMP monitor, reserved for the vmi.Target that
// holds this machine. QEMU serves one client per QMP socket and keeps a
// second waiting until the first leaves, so a Target's long-lived
// connection (its event stream) on QMPSocket would hold Pause and Resume
// up. Events go to every monitor alike.
func (m *Machine) TargetQMPSocket() string { return m.vmiQMP }

// RAMPath is the shared file backing guest RAM (file offset = guest-physical
// address for low RAM); empty under RAMPrivate.
func (m *Machine) RAMPath() string { return m.ram }

// Args is QEMU's command line, without the binary.
func (m *Machine) Args() []string { return append([]string(nil), m.args...) }

// Config is the configuration the machine runs, defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// PID is QEMU's process id.
func (m *Machine) PID() int { return m.cmd.Process.Pid }

// Exited is closed once QEMU has exited.
func (m *Machine) Exited() <-chan struct{} { return m.exited }

// killGrace is how long Kill lets QEMU flush the disk after SIGTERM.
const killGrace = 10 * time.Second

// Kill ends QEMU but keeps its files, so the disk image and serial log can
// be read afterwards. SIGTERM lets QEMU finish in-flight disk writes;
// SIGKILL follows if it does not exit in time.
func (m *Machine) Kill() error {
	if m.cmd == nil || m.cmd.Process == nil {
		return nil
	}
	select {
	case <-m.exited:
		return nil
	default:
	}
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("qemu: %w", err)
	}
	select {
	case <-m.exited:
		return nil
	case <-time.After(killGrace):
	}
	m.cmd.Process.Kill()
	<-m.exited
	return nil
}

// Stop kills QEMU and removes everything Start made: the directory with the
// sockets, the serial log and what Setup made, and the RAM file. It is
// safe to call more than once and on a half-started machine.
func (m *Machine) Stop() error {
	m.stopOnce.Do(func() {
		var errs []error
		if m.cmd != nil && m.cmd.Process != nil {
			select {
			case <-m.exited:
			default:
				m.cmd.Process.Kill()
				<-m.exited
			}
		}
		errs = append(errs, m.RunDir.Remove())
		if m.ram != "" {
			if err := os.Remove(m.ram); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		m.stopErr = errors.Join(errs...)
	})
	return m.stopErr
}

// tailBuffer keeps the last max bytes written to it: QEMU's diagnostics
// for error messages, without unbounded growth from a chatty QEMU.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
