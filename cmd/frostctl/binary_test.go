package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// These tests run frostctl as users do: the binary built from this
// package, in a process of its own, against an in-process frostd. They
// catch what an in-process call of run() cannot: flag wiring that only the
// real argument list exercises, exit codes, what reaches stdout and stderr.

// buildFrostctl builds this package into a fresh directory and returns the
// binary's path.
func buildFrostctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "frostctl")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs bin with args and env (added to a minimal environment:
// no $FROST_VM or $FROSTD leaks in from the developer's shell).
func runBinary(t *testing.T, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A command that never ends (a stream that should have failed) must
	// fail the test, not hang the suite until its timeout.
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		t.Fatalf("frostctl %v did not end within 2 minutes (killed)\nstdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	return out.String(), errb.String(), code
}

// runUntilServed runs a streaming command: once the server has the call
// (d.active) and the command has printed until (when not empty: what it
// prints once the stream is set up), it sends SIGINT, and waits for the
// exit and for the server to record the call's end. Interrupting as soon
// as the server has the call would race the command's first line.
func runUntilServed(t *testing.T, bin string, env []string, d *frostd, rpc, until string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !d.calls.active(rpc) || !strings.Contains(out.String(), until) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("frostctl %v never reached %s (or never printed %q)\nstdout:\n%s\nstderr:\n%s", args, rpc, until, out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	for served, _ := d.calls.get(rpc); !served; served, _ = d.calls.get(rpc) {
		if time.Now().After(deadline) {
			t.Fatalf("the server never ended %s after frostctl left", rpc)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out.String(), errb.String(), code
}

// lockedBuffer is a bytes.Buffer a command writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// calls records which RPCs the server served and how each ended, so a test
// can tell an error frostd returned from one frostctl made up.
type calls struct {
	mu     sync.Mutex
	seen   map[string]error
	inside map[string]bool // streams being served now
}

// active says whether a stream of method is being served.
func (c *calls) active(method string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inside[method]
}

func (c *calls) record(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[method] = err
}

func (c *calls) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = map[string]error{}
	c.inside = map[string]bool{}
}

// get returns whether method was served and its status.
func (c *calls) get(method string) (bool, *status.Status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	err, ok := c.seen[method]
	return ok, status.Convert(err)
}

func (c *calls) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for m := range c.seen {
		out = append(out, m)
	}
	return out
}

func (c *calls) options() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			c.record(info.FullMethod, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			c.mu.Lock()
			c.inside[info.FullMethod] = true
			c.mu.Unlock()
			err := h(srv, ss)
			c.record(info.FullMethod, err)
			return err
		}),
	}
}

// cliTarget is the fake guest of the binary tests: fakeTarget's memory,
// plus the stops that Pause and Step report. It has no register file (a
// gdbstub's is built from its target description), so the calls that
// need one get the server's error.
type cliTarget struct{ *fakeTarget }

var errNoRegisterFile = fakeErr("the fake target has no register file")

func (cliTarget) Pause(context.Context) (*vmi.Stop, error) {
	return &vmi.Stop{Seq: 1, Signal: 2, RegistersErr: errNoRegisterFile}, nil
}

func (cliTarget) Step(context.Context, vmi.CPU) (*vmi.Stop, error) {
	return &vmi.Stop{Seq: 2, Signal: 5, RegistersErr: errNoRegisterFile}, nil
}

func (cliTarget) Registers(context.Context, vmi.CPU) (*vmi.Registers, error) {
	return nil, errNoRegisterFile
}

// Guest RAM of the binary tests: 3 MiB (so reads need more than one
// unary reply), with an MMIO hole at [1 MiB, 1 MiB + 8 KiB).
const (
	cliRAM       = 3 << 20
	cliHoleStart = 1 << 20
	cliHoleEnd   = cliHoleStart + 0x2000
)

// cliGuestRAM is the content of the fake guest's RAM: each 4-byte word
// holds its own address, so any misplaced byte shows.
func cliGuestRAM() []byte {
	ram := make([]byte, cliRAM)
	for i := 0; i+4 <= len(ram); i += 4 {
		ram[i], ram[i+1], ram[i+2], ram[i+3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
	}
	copy(ram[0x1000:], "MZ\x90\x00frost guest memory")
	return ram
}

func newCLITarget() cliTarget {
	return cliTarget{&fakeTarget{ram: cliGuestRAM(), holeStart: cliHoleStart, holeEnd: cliHoleEnd}}
}

// realISF is the real Windows 10 ntkrnlmp ISF beside the checkout
// (../shared/testdata/isf), read in place.
const (
	isfGUID = "606FF669409B00F7FC8C61A9C1670129"
	isfPDB  = "ntkrnlmp.pdb:" + isfGUID + ":1"
)

func realISF(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "testdata", "isf", isfGUID+"-1.json.xz")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("the real Windows ISF is not beside the checkout: %v", err)
		}
		t.Skipf("the real Windows ISF is not beside the checkout: %v", err)
	}
	return p
}

// symbolStore is a store laid out as Volatility's, whose one file is a
// link to the real ISF: the ISF is read in place, never copied.
func symbolStore(t *testing.T) *store.Store {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ntkrnlmp.pdb"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(realISF(t), filepath.Join(dir, "ntkrnlmp.pdb", isfGUID+"-1.json.xz")); err != nil {
		t.Fatal(err)
	}
	s, err := store.New(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Offline = true
	return s
}

// frostd is a real API server (package api's handlers) on a unix socket:
// win10 attached (a fake target), mini-nt defined and shut off (for boot),
// scratch running and not attached (for attach and detach).
type frostd struct {
	sock  string
	calls *calls
	srv   *grpc.Server
}

func startFrostd(t *testing.T) *frostd {
	t.Helper()
	f := &frostd{sock: filepath.Join(t.TempDir(), "frostd.sock"), calls: &calls{}}
	f.calls.reset()
	lis, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	symbols := symbolStore(t)
	reg := session.NewRegistry(nil, nil)
	addSession(t, reg, &session.Config{Symbols: symbols}, "win10", newCLITarget())
	hv := fakeHypervisor{domains: []libvirt.DomainInfo{
		{Name: "win10", UUID: "6f0b0bb6-1a2e-4c3f-9d1e-2a9f5d1c0e11", ID: 3, State: libvirt.StateRunning},
		{Name: "mini-nt", UUID: "0c7d4b9e-5f60-4a8b-b1c2-d3e4f5a6b7c8", ID: -1, State: libvirt.StateShutoff},
		{Name: "scratch", UUID: "9a1c3e5f-7b2d-4f60-8e1a-3c5e7f9b1d2f", ID: 4, State: libvirt.StateRunning},
	}}
	f.srv = grpc.NewServer(f.calls.options()...)
	noop := func(context.Context, string) error { return nil }
	api.Register(f.srv, api.Config{
		Registry:   reg,
		Hypervisor: hv,
		Attach:     func(context.Context, string) (vmi.Target, error) { return newCLITarget(), nil },
		Start:      func(context.Context, string, bool) error { return nil },
		Resume:     noop,
		Symbols:    symbols,
		Log:        slog.New(slog.DiscardHandler),
	})
	go f.srv.Serve(lis)
	t.Cleanup(f.srv.Stop)
	return f
}

// method is the full gRPC name of service/call.
func method(sc string) string { return "/frost.v1." + sc }

// statusLine is how describeError renders a status from the server: its
// code in brackets after the message.
func statusLine(st *status.Status) string { return "[" + st.Code().String() }

func hasAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// The binary tests' guest is TCG's: breakpoints at raw addresses arm (in
// the fake, nowhere), as on the test guest.
func (cliTarget) Capabilities() vmi.Capabilities {
	c, _ := vmi.CapabilitiesFor(vmi.AccelTCG, false)
	return c
}

func (cliTarget) InsertBreakpoint(context.Context, vmi.Breakpoint) error { return nil }
func (cliTarget) RemoveBreakpoint(context.Context, vmi.Breakpoint) error { return nil }
