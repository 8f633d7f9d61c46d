package guard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// fakeVMs records what a guard let go, and can hold a VM's release until
// told (a hung QEMU).
type fakeVMs struct {
	mu       sync.Mutex
	detached []string
	resumed  []string
	gate     map[string]chan struct{}
	released chan string
}

func newFake() *fakeVMs {
	return &fakeVMs{gate: map[string]chan struct{}{}, released: make(chan string, 16)}
}

func (f *fakeVMs) releaser(timeout time.Duration) session.Releaser {
	return session.Releaser{
		Timeout: timeout,
		Attach: func(ctx context.Context, name string) (vmi.Target, error) {
			f.mu.Lock()
			g := f.gate[name]
			f.mu.Unlock()
			if g != nil {
				<-g
			}
			t, err := vmitest.New(vmitest.Config{})
			if err != nil {
				return nil, err
			}
			f.mu.Lock()
			f.detached = append(f.detached, name)
			f.mu.Unlock()
			return t, nil
		},
		ResumePaused: func(_ context.Context, name string) (bool, error) {
			f.mu.Lock()
			f.resumed = append(f.resumed, name)
			f.mu.Unlock()
			return true, nil
		},
	}
}

// waitReleased waits for n VMs to be let go (the guard reports each).
func waitReleased(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case vm := <-ch:
			got = append(got, vm)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %v let go", got)
		}
	}
	return got
}

type testGuard struct {
	srv    *Server
	socket string
	state  *session.StateFile
	done   chan error
}

func startGuard(t *testing.T, f *fakeVMs, timeout time.Duration, exitIdle bool) *testGuard {
	t.Helper()
	dir, err := os.MkdirTemp("", "guard-") // short: a unix socket path is bounded
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	g := &testGuard{socket: filepath.Join(dir, "guard.sock"), state: &session.StateFile{Path: filepath.Join(dir, "state.json")}, done: make(chan error, 1)}
	rel := f.releaser(timeout)
	attach := rel.Attach
	rel.Attach = func(ctx context.Context, name string) (vmi.Target, error) {
		tg, err := attach(ctx, name)
		if err == nil {
			f.released <- name
		}
		return tg, err
	}
	g.srv, err = Listen(Config{Socket: g.socket, Releaser: rel, State: g.state,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ExitWhenIdle: exitIdle})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { g.done <- g.srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-g.done })
	return g
}

func dial(t *testing.T, socket string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Hello(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

// frostd's connection dropping without bye (as SIGKILL drops it) makes the
// guard let go of everything frostd last said it held: attached VMs are
// re-attached and detached, paused ones resumed; the state file then no
// longer lists them, and the next frostd hears what was done.
func TestGuardLetsGoWhenFrostdDies(t *testing.T) {
	f := newFake()
	g := startGuard(t, f, 0, false)
	if err := os.WriteFile(g.state.Path, []byte(`{"pid":1,"vms":["a","other"],"paused":["b"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := dial(t, g.socket)
	if err := c.Tell(session.Holds{VMs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Tell(session.Holds{VMs: []string{"a"}, Paused: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	c.Close() // no bye: frostd died
	waitReleased(t, f.released, 1)
	next := dial(t, g.socket) // answered once the recovery is over
	_ = next
	f.mu.Lock()
	defer f.mu.Unlock()
	if !reflect.DeepEqual(f.detached, []string{"a"}) {
		t.Errorf("detached %v, want [a] (x was no longer held)", f.detached)
	}
	resumed := append([]string(nil), f.resumed...)
	if len(resumed) != 2 {
		t.Errorf("resumed %v, want a and b", resumed)
	}
	h, err := g.state.LoadHolds()
	if err != nil || !reflect.DeepEqual(h, session.Holds{VMs: []string{"other"}}) {
		t.Errorf("state file after the recovery: %+v, %v (want only what frostd did not tell the guard)", h, err)
	}
}

// A frostd that says bye let its guests go itself: the guard touches
// nothing, and a guard frostd spawned then exits.
func TestGuardByeRecoversNothing(t *testing.T) {
	f := newFake()
	g := startGuard(t, f, 0, true)
	c := dial(t, g.socket)
	if err := c.Tell(session.Holds{VMs: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bye(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-g.done:
		g.done <- err // for the cleanup
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a spawned guard did not exit after bye")
	}
	if len(f.detached)+len(f.resumed) != 0 {
		t.Errorf("let go after a bye: %v %v", f.detached, f.resumed)
	}
}

// A successor frostd's hello is answered only once the recovery is over,
// so it reads a state file that says what the guard let go.
func TestGuardHelloWaitsForRecovery(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.gate["slow"] = gate
	g := startGuard(t, f, time.Minute, false)
	c := dial(t, g.socket)
	if err := c.Tell(session.Holds{VMs: []string{"slow"}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var opened sync.Mutex
	opened.Lock()
	gateOpen := false
	hello := make(chan bool, 1)
	go func() {
		c2, err := Dial(context.Background(), g.socket)
		if err != nil {
			hello <- false
			return
		}
		defer c2.Close()
		_, err = c2.Hello(context.Background())
		opened.Lock()
		hello <- err == nil && gateOpen
		opened.Unlock()
	}()
	// Give the hello every chance to overtake the recovery if it could;
	// the assertion is on order, not time.
	time.Sleep(200 * time.Millisecond)
	gateOpen = true
	close(gate)
	opened.Unlock()
	if ok := <-hello; !ok {
		t.Error("hello answered before the recovery was over")
	}
}

// One hung VM does not delay the others: each has its own deadline, and
// the hung one is reported once its deadline passes.
func TestGuardHungVMDoesNotDelayOthers(t *testing.T) {
	f := newFake()
	hung := make(chan struct{})
	defer close(hung)
	f.gate["hung"] = hung
	g := startGuard(t, f, 500*time.Millisecond, false)
	c := dial(t, g.socket)
	if err := c.Tell(session.Holds{VMs: []string{"hung", "ok1", "ok2"}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	got := waitReleased(t, f.released, 2) // while "hung" still hangs
	if strings.Contains(strings.Join(got, ","), "hung") {
		t.Errorf("released %v", got)
	}
	dial(t, g.socket) // the recovery ends: the hung VM timed out
	h, err := g.state.LoadHolds()
	if err != nil || len(h.VMs) != 0 {
		t.Errorf("state: %+v, %v", h, err)
	}
}

// The guard reads bounded lines and refuses nonsense without dying; a
// socket others may use is refused by the client.
func TestGuardBadInput(t *testing.T) {
	f := newFake()
	g := startGuard(t, f, 0, false)
	nc, err := net.Dial("unix", g.socket)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		big := make([]byte, maxLine+10)
		for i := range big {
			big[i] = 'x'
		}
		_, _ = nc.Write(big)
	}()
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	// Closed with our bytes unread: EOF or a reset.
	if _, err := io.ReadAll(nc); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("an endless line: the guard did not close the connection: %v", err)
	}
	nc.Close()
	nc, err = net.Dial("unix", g.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("{\"op\":\"dance\"}\n"))
	var rep Reply
	if err := json.NewDecoder(nc).Decode(&rep); err != nil || rep.OK || !strings.Contains(rep.Error, "dance") {
		t.Errorf("unknown op: %+v, %v", rep, err)
	}
	dial(t, g.socket) // still serving
	if err := os.Chmod(g.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(context.Background(), g.socket); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("Dial of a socket others may use: %v", err)
	}
}

// A guard whose socket was removed (its directory deleted) can be reached
// by nobody, so it stops.
func TestGuardStopsWhenSocketRemoved(t *testing.T) {
	g := startGuard(t, newFake(), 0, false)
	if err := os.Remove(g.socket); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(20 * time.Second):
		t.Fatal("the guard did not stop")
	}
	if _, err := Dial(context.Background(), g.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dial: %v", err)
	}
}
