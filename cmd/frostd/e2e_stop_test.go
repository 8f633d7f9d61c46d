package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestStopAndInspectOnLibvirt is issue 16's stop-and-inspect, as a user
// runs it: frostctl break --stop at writer.exe's nt!NtWriteFile on mini-NT
// through a real frostd, the commands of the prompt on the held hit, and
// the guest let go at the end, and when frostctl is SIGKILLed in the middle
// of a session held longer than a hit's hold may last. The guest's serial
// report (writer's write lines) says when it runs.
func TestStopAndInspectOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	fd := startFrostd(t, bin, t.TempDir(), guestDir, "frostd.log")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	checkBootStatus(t, d, bootWithWinboot(ctx, t, fd.cc, d))
	writer := guestPIDs(t, d)["writer.exe"]
	if writer == 0 {
		t.Fatal("the guest reported no writer.exe")
	}
	c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: d.name, home: t.TempDir()}
	var at pb.ResolveSymbolResponse
	c.json(t, &at, "symbols", "resolve", "nt!NtWriteFile")
	fn := at.GetAddress()

	t.Run("scripted session", func(t *testing.T) {
		n := d.writes(t)
		out, errOut, code := c.run(t, "break", "nt!NtWriteFile", "--pid", fmt.Sprint(writer), "--stop",
			"--exec", "regs; stack; disasm; read rsp 64; disasm nt!NtWriteFile 3; step; continue")
		t.Logf("$ frostctl break nt!NtWriteFile --pid %d --stop --exec ...\n%s%s", writer, out, errOut)
		if code != 0 {
			t.Fatalf("exit %d\nstderr:\n%s", code, errOut)
		}
		want := []string{
			fmt.Sprintf("held at nt!NtWriteFile (%s)", kdAddr(fn)),
			fmt.Sprintf("rip=%016x", fn),
			// The current instruction marked, at the function's start.
			"=> " + kdAddr(fn) + " ",
			"released: the guest runs",
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q", w)
			}
		}
		section := func(cmd string) string {
			_, rest, _ := strings.Cut(out, "frost> "+cmd+"\n")
			s, _, _ := strings.Cut(rest, "frost> ")
			return s
		}
		// The stack's frame 0 is nt!NtWriteFile, found from the context.
		stack := strings.Split(section("stack"), "\n")
		if len(stack) < 4 || !strings.HasPrefix(stack[2], "00 ") || !strings.Contains(stack[2], "nt!NtWriteFile ") || !strings.Contains(stack[2], "[context]") {
			t.Errorf("stack's frame 0 is not nt!NtWriteFile:\n%s", strings.Join(stack, "\n"))
		}
		// The read is at RSP, in writer's address space: the return
		// address's bytes are there, and nothing is unread.
		if r := section("read rsp 64"); strings.Count(r, "\n") != 4 || strings.Contains(r, "not read") {
			t.Errorf("read rsp 64:\n%s", r)
		}
		// One instruction on from the function's start, marked.
		step := section("step")
		if strings.Contains(step, "did not move") || !strings.Contains(step, "=> ") || strings.Contains(step, "=> "+kdAddr(fn)+" ") {
			t.Errorf("step:\n%s", step)
		}
		d.waitMoreWrites(t, n)
		waitNoBreakpoints(ctx, t, fd.cc, d.name)
	})

	t.Run("killed in a long session", func(t *testing.T) {
		cmd := c.command("break", "nt!NtWriteFile", "--pid", fmt.Sprint(writer), "--stop")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		waitLine := func(what string) {
			t.Helper()
			timeout := time.After(guestWait)
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatalf("frostctl ended before printing %q", what)
					}
					if strings.Contains(l, what) {
						return
					}
				case <-timeout:
					t.Fatalf("frostctl never printed %q", what)
				}
			}
		}
		waitLine("held at nt!NtWriteFile")
		n := d.writes(t)
		wantPaused(ctx, t, d, "at the held hit")
		// Longer than frostd lets a subscription hold a hit (30 s): the
		// session's Hold keeps the guest where it is.
		time.Sleep(35 * time.Second)
		if m := d.writes(t); m != n {
			t.Errorf("the guest ran during the session: %d write lines, then %d", n, m)
		}
		wantPaused(ctx, t, d, "35 s into the session")
		io.WriteString(stdin, "regs\n")
		waitLine(fmt.Sprintf("rip=%016x", fn))
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		d.waitMoreWrites(t, n)
		waitNoBreakpoints(ctx, t, fd.cc, d.name)
	})
}

// kdAddr is frostctl's rendering of a kernel address.
func kdAddr(v uint64) string { return fmt.Sprintf("%08x`%08x", v>>32, v&0xffffffff) }
