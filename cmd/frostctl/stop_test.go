package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// runStop runs break with args in this process, its prompt reading in.
func runStop(t *testing.T, sock string, in io.Reader, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{out: &out, errOut: &errb, in: in}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = c.execute(ctx, append([]string{"--addr", sock, "break"}, args...))
	return out.String(), errb.String(), err
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// wantOrder checks that the fake saw these events in this order (others
// may come between).
func wantOrder(t *testing.T, f *stopFake, want ...string) {
	t.Helper()
	got := f.events()
	i := 0
	for _, e := range got {
		if i < len(want) && e == want[i] {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("the fake frostd saw %q, want %q in this order", got, want)
	}
}

func testStack() *pb.GetStackResponse {
	return &pb.GetStackResponse{Cpu: 0, Pid: hitPID, Tid: 424, ProcessName: "writer.exe", Stack: &pb.Stack{
		Frames: []*pb.StackFrame{
			{Index: 0, Rip: hitRIP, Rsp: hitRSP, Symbol: "nt!NtWriteFile+0x7", Module: "nt", Function: "NtWriteFile", Offset: 7,
				Source: pb.SymbolSource_SYMBOL_SOURCE_PDB, Method: pb.UnwindMethod_UNWIND_METHOD_CONTEXT},
			{Index: 1, Rip: fnBase + 0x825, Rsp: hitRSP + 0x70, Module: "nt", Function: "KiSystemServiceCopyEnd", Offset: 0x25,
				Source: pb.SymbolSource_SYMBOL_SOURCE_PDB, Method: pb.UnwindMethod_UNWIND_METHOD_UNWIND_INFO},
			{Index: 2, Rip: 0x7ffe0001014, Rsp: 0x5ff8a8, Module: "ntdll", ModuleBase: 0x7ffe0000000,
				Source: pb.SymbolSource_SYMBOL_SOURCE_NONE, Method: pb.UnwindMethod_UNWIND_METHOD_MACHINE_FRAME, UserMode: true},
		},
		Error: "the stack page at 00000000`005ff000 is not readable (paged out)",
	}}
}

// TestBreakStopExec is the scripted session: every prompt command on the
// held hit, the guest held by a Hold opened before the ack, and let go
// politely (the subscription ends, then the Hold is closed) at continue.
func TestBreakStopExec(t *testing.T) {
	f := newStopFake()
	f.stack = testStack()
	sock := startStopFake(t, f)
	out, errOut, err := runStop(t, sock, nil, "--vm", "win10", "nt!NtWriteFile", "--pid", "420", "--stop",
		"--exec", "regs; disasm; read rsp 32; stack; step; disasm nt!IopWriteFile 1; continue; regs")
	if err != nil {
		t.Fatalf("break --stop: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	t.Logf("\n%s", out)
	wantLines(t, out,
		"held at nt!NtWriteFile+0x7 (fffff800`12340007) (cpu 0, pid 420, tid 424) for at most 10m0s",
		"frost> regs\n",
		"rip=fffff80012340007 rsp=fffff80099990f28",
		"rflags=00000246 [pf zf if] cs=0010 ss=0018 cr3=00000000001aa000\nnt!NtWriteFile+0x7:\n=> fffff800`12340007 488b05f20f0000   mov rax,",
		// disasm: from the function's start, RIP marked, targets named.
		"nt!NtWriteFile:\n   fffff800`12340000 4c8bdc           mov r11, rsp\n   fffff800`12340003 4883ec68         sub rsp, 0x68\n",
		"=> fffff800`12340007 488b05f20f0000   mov rax, qword ptr [rip+0xff2] ; nt!IoFileObjectType (fffff800`12341000)\n",
		"   fffff800`1234000e e82d000000       call nt!IopWriteFile (fffff800`12340040)\n",
		"   fffff800`12340013 7402             jz nt!NtWriteFile+0x17 (fffff800`12340017)\n",
		"   fffff800`12340015 06               (bad)\n   fffff800`12340016 06               (bad)\n   fffff800`12340017 c3               ret\n",
		// read at a register's value, in the hit's address space.
		"fffff800`99990f28  28 29 2a 2b 2c 2d 2e 2f-30 31 32 33 34 35 36 37",
		// stack
		"cpu 0 pid 420 (writer.exe) tid 424",
		"nt!KiSystemServiceCopyEnd+0x25",
		"[machine frame] user",
		"(the walk stopped: the stack page at 00000000`005ff000 is not readable (paged out))",
		// step shows the next instruction, marked.
		"frost> step\nnt!NtWriteFile+0xe:\n=> fffff800`1234000e e82d000000       call nt!IopWriteFile (fffff800`12340040)\n",
		"frost> disasm nt!IopWriteFile 1\nnt!IopWriteFile:\n   fffff800`12340040 0000             add byte ptr [rax], al\n",
		"frost> continue\nreleased: the guest runs\n",
	)
	if strings.Count(out, "frost> regs") != 1 {
		t.Errorf("commands after continue ran:\n%s", out)
	}
	<-f.subEnded
	// The subscription and the Hold end together: frostd may see either
	// end first (frostd keeps a held hit's resume either way).
	wantOrder(t, f, "subscribe hold=true", "hold 10m0s", "ack", "step", "subscription ended")
	wantOrder(t, f, "subscribe hold=true", "hold 10m0s", "ack", "step", "hold closed")
}

// A read that stops at an unreadable page says where and why, and the
// bytes before it are still disassembled; a failed command does not end
// the session, but the exit status tells the script.
func TestBreakStopUnreadAndFailures(t *testing.T) {
	f := newStopFake()
	sock := startStopFake(t, f)
	out, errOut, err := runStop(t, sock, nil, "--vm", "win10", "nt!NtWriteFile", "--stop",
		"--exec", "disasm fffff80012340ffc 4; read fffff80012340ff8 16; stack; bogus; continue")
	t.Logf("\n%s\n%s", out, errOut)
	if err == nil || !strings.Contains(err.Error(), "2 command(s) at the prompt failed") {
		t.Errorf("error %v, want 2 failed commands (stack unimplemented, bogus)", err)
	}
	wantLines(t, out,
		"   fffff800`12340ffc 0000             add byte ptr [rax], al\n   fffff800`12340ffe 0000             add byte ptr [rax], al\n   fffff800`12341000 ?? not read: fffff800`12341000 +0x38: pagefile: in the paging file\n",
		"fffff800`12340ff8  00 00 00 00 00 00 00 00-?? ?? ?? ?? ?? ?? ?? ??",
		"not read: fffff800`12341000 +0x8: pagefile: in the paging file",
		"released: the guest runs",
	)
	wantLines(t, errOut, "frost: stack: method GetStack not implemented [Unimplemented]", "frost: bogus: unknown command")
	<-f.subEnded
	wantOrder(t, f, "hold 10m0s", "ack", "subscription ended")
	wantOrder(t, f, "hold 10m0s", "ack", "hold closed")
}

// When frostd ends the Hold (its maximum passed), the prompt ends and says
// so, with an error: the guest is no longer where the session thinks.
func TestBreakStopHoldExpires(t *testing.T) {
	f := newStopFake()
	f.expireHold = true
	sock := startStopFake(t, f)
	pr, pw := io.Pipe() // a prompt whose user types nothing
	defer pw.Close()
	out, _, err := runStop(t, sock, pr, "--vm", "win10", "0xfffff80012340007", "--stop", "--max-hold", "1m")
	if err == nil || !strings.Contains(err.Error(), "the hold reached its maximum (--max-hold) and frostd let the guest go") {
		t.Errorf("error %v, want the hold's expiry\n%s", err, out)
	}
	<-f.subEnded
	wantOrder(t, f, "hold 1m0s", "hold expired", "subscription ended")
}

// Flags that mean nothing together are refused before frostd is called.
func TestBreakStopFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nt!NtWriteFile", "--exec", "regs"}, "--exec: only with --stop"},
		{[]string{"nt!NtWriteFile", "--stop", "--persist"}, "--stop and --persist"},
		{[]string{"nt!NtWriteFile", "--stop", "--hold", "5s"}, "leave --hold out"},
		{[]string{"nt!NtWriteFile", "--stop", "--json"}, "leave --json out"},
		{[]string{"nt!NtWriteFile", "--stop", "--max-hold", "0s"}, "--max-hold: must be positive"},
	} {
		_, _, err := runStop(t, "/nonexistent/frostd.sock", nil, append([]string{"--vm", "win10"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("break %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestStackCommand(t *testing.T) {
	f := newStopFake()
	f.stack = testStack()
	f.stack.Stack.Truncated, f.stack.Stack.Error = true, ""
	sock := startStopFake(t, f)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--addr", sock, "stack", "--vm", "win10", "--max", "3"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	t.Logf("\n%s", out.String())
	wantLines(t, out.String(),
		" #  Child-SP           RIP                Call Site                       Symbols  Found by",
		"00  fffff800`99990f28  fffff800`12340007  nt!NtWriteFile+0x7              pdb      [context]",
		"01  fffff800`99990f98  fffff800`12340825  nt!KiSystemServiceCopyEnd+0x25  pdb      [unwind info]",
		"02  00000000`005ff8a8  000007ff`e0001014  ntdll+0x1014                    none     [machine frame] user",
		"(stopped at the frame limit, 3 frames: raise it with --max)",
	)
	code = run(context.Background(), []string{"--addr", sock, "stack", "--vm", "win10", "--max", "257"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "--max 257: at most 256 frames") {
		t.Errorf("--max 257: exit %d, %s", code, errb.String())
	}
}

// The built binary, as a user runs it: each way frostctl can end with
// the guest held lets it go. A SIGKILLed frostctl cannot say anything:
// its streams end with its socket, and frostd (here the fake) sees both
// cancelled, which is what makes the real frostd release the Hold and
// drop the breakpoint.
func TestBreakStopExitPaths(t *testing.T) {
	bin := buildFrostctl(t)
	for _, tc := range []struct {
		name string
		// end ends the session once it holds the guest.
		end      func(cmd *exec.Cmd, stdin io.WriteCloser)
		wantHold string
		wantOut  string
		wantCode int
	}{
		{"stdin commands", func(_ *exec.Cmd, in io.WriteCloser) { io.WriteString(in, "regs\ncontinue\n") }, "closed", "frost> regs\nrax=", 0},
		{"EOF", func(_ *exec.Cmd, in io.WriteCloser) { in.Close() }, "closed", "released: the guest runs", 0},
		{"interrupt", func(cmd *exec.Cmd, _ io.WriteCloser) { cmd.Process.Signal(os.Interrupt) }, "closed", "interrupted: letting the guest go", 0},
		{"SIGTERM", func(cmd *exec.Cmd, _ io.WriteCloser) { cmd.Process.Signal(syscall.SIGTERM) }, "closed", "released: the guest runs", 0},
		{"SIGKILL", func(cmd *exec.Cmd, _ io.WriteCloser) { cmd.Process.Kill() }, "cancelled", "held at", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newStopFake()
			sock := startStopFake(t, f)
			cmd := exec.Command(bin, "--addr", sock, "break", "--vm", "win10", "nt!NtWriteFile", "--stop")
			var out, errb lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			deadline := time.Now().Add(30 * time.Second)
			for !slices.Contains(f.events(), "ack") || !strings.Contains(out.String(), "held at") {
				if time.Now().After(deadline) {
					t.Fatalf("frostctl never held the guest\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			tc.end(cmd, stdin)
			err = cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			if code != tc.wantCode {
				t.Errorf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, tc.wantCode, out.String(), errb.String())
			}
			select {
			case how := <-f.holdEnded:
				if how != tc.wantHold {
					t.Errorf("the Hold ended %s, want %s", how, tc.wantHold)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the Hold never ended")
			}
			select {
			case <-f.subEnded:
			case <-time.After(30 * time.Second):
				t.Fatal("the subscription never ended")
			}
			wantLines(t, out.String(), tc.wantOut)
		})
	}
}

// At a terminal the prompt is shown before each command, and the
// commands are not echoed.
func TestBreakStopPromptOnATerminal(t *testing.T) {
	leader, follower, err := dumpPTY(t)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	bin := buildFrostctl(t)
	f := newStopFake()
	sock := startStopFake(t, f)
	cmd := exec.Command(bin, "--addr", sock, "break", "--vm", "win10", "nt!NtWriteFile", "--stop")
	var out, errb lockedBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = follower, &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	go io.Copy(io.Discard, leader) // the terminal's echo
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "frost> ") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	io.WriteString(leader, "help\ncontinue\n")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	wantLines(t, out.String(), "frost> commands (on the held hit", "frost> released: the guest runs")
	if strings.Contains(out.String(), "frost> help") {
		t.Errorf("a terminal's command was echoed:\n%s", out.String())
	}
}
