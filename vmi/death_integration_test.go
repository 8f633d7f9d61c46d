package vmi

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	"github.com/frostvmi/frost/vmi/gdbstub"
	"github.com/frostvmi/frost/vmi/qmp"
)

// The child owner of TestAbruptClientDeath is this test binary run again
// with these variables set.
const (
	childGDB = "FROST_VMI_CHILD_GDB" // the gdbstub's unix socket
	childQMP = "FROST_VMI_CHILD_QMP" // the Target's QMP socket
	childPID = "FROST_VMI_CHILD_PID" // QEMU's pid
	childBP  = "FROST_VMI_CHILD_BP"  // the breakpoint's address, hex
	// childHit opens the line the child prints once it sits at its
	// breakpoint.
	childHit = "frost-child: hit rip="
)

// TestAbruptClientDeath: a client (another process) holds the guest at a
// breakpoint and is killed with SIGKILL, so nothing detaches: QEMU keeps
// the breakpoint and the guest stays in "debug". A new Target's attach
// removes the leftover, and the guest runs on to ready without another
// stop.
func TestAbruptClientDeath(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), Paused: true})
	ctx := testCtx(t)
	network, address := m.GDBAddr()
	if network != "unix" {
		t.Fatalf("gdbstub on %s", network)
	}

	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAbruptDeathChild$", "-test.v")
	child.Env = append(os.Environ(),
		childGDB+"="+address, childQMP+"="+m.TargetQMPSocket(),
		childPID+"="+strconv.Itoa(m.PID()), childBP+"="+strconv.FormatUint(fn, 16))
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	sc := bufio.NewScanner(out)
	hit := false
	for !hit && sc.Scan() {
		t.Logf("child: %s", sc.Text())
		hit = strings.HasPrefix(sc.Text(), childHit)
	}
	if !hit {
		child.Wait()
		t.Fatalf("the child exited without reaching its breakpoint")
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() { // drain, so Wait returns
		}
	}()
	if err := child.Wait(); err == nil {
		t.Fatal("the child survived SIGKILL")
	}

	// Nobody detached: the guest stays stopped by the stub.
	// Give QEMU a moment to see the disconnect, so the status below is
	// what it does about it rather than what it did before.
	time.Sleep(200 * time.Millisecond)
	qc, err := qmp.Dial(ctx, m.QMPSocket())
	if err != nil {
		t.Fatal(err)
	}
	st, err := qc.QueryStatus(ctx)
	qc.Close()
	if err != nil || st.Status != qmp.StatusDebug {
		t.Fatalf("after the client died the guest is %+v, %v; want stopped in debug", st, err)
	}
	if _, ok := report(t, m).First("ready"); ok {
		t.Fatal("the guest reached ready while its dead owner's breakpoint held it")
	}

	tg := openTarget(t, m)
	running, stop := tg.Running()
	if running || stop == nil || rip(t, stop.Registers) != fn {
		t.Fatalf("the new attach found running=%v stop=%v; want the guest at the dead owner's breakpoint %#x", running, stop, fn)
	}
	readyCtx, ready := context.WithCancel(ctx)
	defer ready()
	go func() {
		m.WaitEvent(readyCtx, "ready")
		ready()
	}()
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-tg.Events():
		t.Fatalf("event %v %v before ready: the dead owner's breakpoint is still armed", e.Kind, e.Stop)
	case <-readyCtx.Done():
	}
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
	if err := tg.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAbruptDeathChild is the owner TestAbruptClientDeath kills: it
// attaches, arms its breakpoint, runs the guest to it, says so and waits
// to die. It does nothing unless run as that child.
func TestAbruptDeathChild(t *testing.T) {
	gdb := os.Getenv(childGDB)
	if gdb == "" {
		t.Skip("only runs as TestAbruptClientDeath's child")
	}
	ctx := testCtx(t)
	pid, _ := strconv.Atoi(os.Getenv(childPID))
	bp, err := strconv.ParseUint(os.Getenv(childBP), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := DialQEMU(ctx, QEMUEndpoints{Name: "child", GDBNetwork: "unix", GDBAddress: gdb, QMPSocket: os.Getenv(childQMP), PID: pid}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.InsertBreakpoint(ctx, Breakpoint{Kind: gdbstub.Software, Addr: bp}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	e := nextEvent(ctx, t, tg)
	if e.Kind != EventStop {
		t.Fatalf("event %v", e.Kind)
	}
	fmt.Printf("%s%#x\n", childHit, rip(t, e.Stop.Registers))
	<-ctx.Done() // SIGKILL comes first
}

// TestCloseAfterLostConnection: the Target's stub connection dies while
// the guest sits at its breakpoint (QEMU lives on, the breakpoint stays
// armed). Events report gone; Close still leaves the guest clean and
// running, through a new connection, and it reaches ready.
func TestCloseAfterLostConnection(t *testing.T) {
	fn := kernelBase(t, testSeed) + publicRVA(t, "NtQueryValueKey")
	m := boot(t, minint.Config{Seed: minint.Seed(testSeed), Paused: true})
	g := openTarget(t, m)
	ctx := testCtx(t)
	if err := g.InsertBreakpoint(ctx, Breakpoint{Kind: gdbstub.Software, Addr: fn}); err != nil {
		t.Fatal(err)
	}
	if err := g.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(ctx, t, g); e.Kind != EventStop || rip(t, e.Stop.Registers) != fn {
		t.Fatalf("event %v, want the hit", e.Kind)
	}
	g.gdb.Close() // the connection drops without a detach
	if e := nextEvent(ctx, t, g); e.Kind != EventGone {
		t.Fatalf("event %v after the connection dropped, want gone", e.Kind)
	}
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitEvent(ctx, "ready"); err != nil {
		t.Fatalf("the guest did not run on after Close: %v", err)
	}
}
