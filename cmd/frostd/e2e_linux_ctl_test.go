package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// The Linux guest's test talks to frostd only through the frostctl
// binary, as a user does: each command a process of its own, its --json
// output decoded into the API's messages.

// ctlTimeout bounds one frostctl command that should end by itself: a
// hang fails the test instead of the suite's timeout.
const ctlTimeout = 2 * time.Minute

// buildFrostctlBinary builds cmd/frostctl, as `make build` does.
func buildFrostctlBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "frostctl")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../frostctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building frostctl: %v\n%s", err, out)
	}
	return bin
}

// ctl runs frostctl against one frostd and one VM ($FROSTD, $FROST_VM),
// in an environment with nothing else of the developer's.
type ctl struct {
	bin, sock, vm string
	home          string
}

func (c *ctl) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.home, "FROSTD=" + c.sock, "FROST_VM=" + c.vm}
	return cmd
}

// run runs one command to its end and returns its output and exit code.
func (c *ctl) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := c.command(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(ctlTimeout, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Fatalf("frostctl %v did not end within %v (killed)\nstdout:\n%s\nstderr:\n%s", args, ctlTimeout, out.String(), errb.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("frostctl %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// must runs a command that must succeed, and returns its stdout.
func (c *ctl) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("frostctl %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// json runs a command with --json=proto (after the command's name) that must
// succeed, and decodes its output into m: protojson's form, since plain
// --json is frostctl's own script-friendly shape.
func (c *ctl) json(t *testing.T, m proto.Message, args ...string) {
	t.Helper()
	full := append([]string{args[0], "--json=proto"}, args[1:]...)
	out := c.must(t, full...)
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(out), m); err != nil {
		t.Fatalf("frostctl %s: decoding its JSON: %v\n%s", strings.Join(full, " "), err, out)
	}
}

// ctlStream is a streaming command (break, events): its stdout's lines as
// they come, until stop sends the ^C a user would.
type ctlStream struct {
	cmd    *exec.Cmd
	args   []string
	lines  chan string
	done   chan struct{}
	stderr bytes.Buffer
	err    error // the exit, once done is closed
}

func (c *ctl) stream(t *testing.T, args ...string) *ctlStream {
	t.Helper()
	s := &ctlStream{cmd: c.command(args...), args: args, lines: make(chan string, 4096), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.kill() })
	return s
}

// next returns the next line, or false when the stream ended or wait
// passed.
func (s *ctlStream) next(wait time.Duration) (string, bool) {
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(wait):
		return "", false
	}
}

// stop interrupts the command as ^C does and waits for its exit, which
// must be clean (a ^C'd stream removes its breakpoint and exits 0).
func (s *ctlStream) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(ctlTimeout):
		s.kill()
		t.Fatalf("frostctl %v did not end after ^C\nstderr:\n%s", s.args, s.stderr.String())
	}
	// Lines not read yet are dropped: the caller has what it wanted.
	for range s.lines {
	}
	if s.err != nil {
		t.Errorf("frostctl %v after ^C: %v\nstderr:\n%s", s.args, s.err, s.stderr.String())
	}
}

func (s *ctlStream) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for range s.lines {
		}
	}()
	<-s.done
}
