package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// A client that holds the guest at a breakpoint must be a process of its
// own, so that the test can SIGKILL it: a cancelled stream in the test's
// process would close its connection politely. The test binary is that
// client when these variables name a frostd socket and a VM.
const (
	holderSocketEnv = "FROST_E2E_HOLDER_SOCKET"
	holderVMEnv     = "FROST_E2E_HOLDER_VM"
	heldMarker      = "FROST-E2E-HELD"
)

// TestHoldingClient is the holding client's body, run only as a child of
// the end-to-end test: it breaks on nt!NtWriteFile in writer.exe, holding
// the guest up to the longest deadline frostd grants, says so on stdout at
// the first held hit, and never acks, waiting to be killed.
func TestHoldingClient(t *testing.T) {
	sock, vm := os.Getenv(holderSocketEnv), os.Getenv(holderVMEnv)
	if sock == "" || vm == "" {
		t.Skip("run only by the end-to-end test, as the client it kills")
	}
	cc := dialUnix(t, sock)
	stream, err := pb.NewBreakpointServiceClient(cc).Subscribe(context.Background(), &pb.SubscribeRequest{
		Vm: vm, Hold: true, HoldDeadline: durationpb.New(time.Minute),
		Breakpoints: []*pb.BreakpointSpec{{
			Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
			Filter:   &pb.BreakpointFilter{ProcessNames: []string{"writer.exe"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if h := ev.GetHit(); h != nil && h.GetHeld() {
			fmt.Printf("%s seq=%d pid=%d\n", heldMarker, h.GetSequence(), h.GetPid())
			os.Stdout.Sync()
			time.Sleep(10 * time.Minute) // killed long before
			return
		}
	}
}

// holdingClient is a running holding client.
type holdingClient struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startHoldingClient runs the holding client against sock and waits until
// it holds the guest at a hit.
func startHoldingClient(t *testing.T, sock, vm string) *holdingClient {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldingClient$", "-test.v")
	cmd.Env = append(os.Environ(), holderSocketEnv+"="+sock, holderVMEnv+"="+vm)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &holdingClient{cmd: cmd, done: make(chan struct{})}
	held := make(chan string, 1)
	var lines []string
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), heldMarker) {
				held <- sc.Text()
			}
			lines = append(lines, sc.Text())
		}
		cmd.Wait()
	}()
	t.Cleanup(func() { c.kill() })
	select {
	case line := <-held:
		t.Logf("holding client: %s", line)
		return c
	case <-c.done:
		t.Fatalf("the holding client ended without holding the guest:\n%s", strings.Join(lines, "\n"))
	case <-time.After(guestWait):
		t.Fatal("the holding client never held the guest")
	}
	return nil
}

// kill SIGKILLs the client: it never acks, never closes its stream.
func (c *holdingClient) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}
