package main

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fake guest has RAM at [0, 0x2000) and [0x3000, 0x4000), with MMIO
// between: an ELF core has one PT_LOAD per range with the guest's bytes,
// and a raw file holds each byte at its guest-physical offset.
func TestDump(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startDumpServer(t, cpu, nil)
	ram := dumpRAM()
	dir := t.TempDir()

	core := filepath.Join(dir, "guest.elf")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-o", core); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "12288 bytes of guest RAM in 2 ranges (elf)") {
		t.Errorf("stdout: %q", stdout.String())
	}
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checkCoreRAM(t, f, ram)

	raw := filepath.Join(dir, "guest.raw")
	stdout.Reset()
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--format", "raw", "-q", "-o", raw); code != 0 {
		t.Fatalf("raw: exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), ram...)
	clear(want[0x2000:0x3000]) // the hole is left sparse
	if !bytes.Equal(b, want) {
		t.Errorf("raw dump: %d bytes, differs from guest RAM with a zeroed hole", len(b))
	}
}

// checkCoreRAM checks a core's PT_LOADs hold the fake guest's RAM ranges.
func checkCoreRAM(t *testing.T, f *elf.File, ram []byte) {
	t.Helper()
	var loads []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads = append(loads, p)
		}
	}
	if f.Type != elf.ET_CORE || f.Machine != elf.EM_X86_64 || len(loads) != 2 {
		t.Fatalf("type %v machine %v, %d PT_LOADs", f.Type, f.Machine, len(loads))
	}
	for _, p := range loads {
		got, err := io.ReadAll(p.Open())
		if err != nil {
			t.Fatal(err)
		}
		if want := ram[p.Paddr : p.Paddr+p.Memsz]; p.Vaddr != p.Paddr || !bytes.Equal(got, want) {
			t.Errorf("PT_LOAD at %#x (vaddr %#x): bytes differ from guest RAM", p.Paddr, p.Vaddr)
		}
	}
}

// A dump stops a running guest before reading anything and resumes it
// after the last byte; the core says it is consistent and carries each
// vCPU's registers as QEMU lays them out.
func TestDumpPausesARunningGuest(t *testing.T) {
	cpu := &dumpCPU{running: true, system: true}
	sock := startDumpServer(t, cpu, nil)
	core := filepath.Join(t.TempDir(), "guest.elf")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-o", core); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got, want := cpu.log(), []string{"pause", "registers", "file", "stream", "stream", "resume"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if !cpu.running {
		t.Error("the guest was left paused")
	}
	if !strings.Contains(stdout.String(), "consistent image: the guest was paused for the dump") {
		t.Errorf("stdout: %q", stdout.String())
	}
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	notes := coreNotes(t, f)
	var names []string
	for _, n := range notes {
		names = append(names, n.name)
	}
	if want := []string{"CORE", "CORE", "QEMU", "QEMU", "FROST"}; !slices.Equal(names, want) {
		t.Fatalf("notes %v, want %v", names, want)
	}
	le := binary.LittleEndian
	for i := range uint32(2) {
		regs := fakeRegs(i)
		pr := notes[i]
		if pr.typ != uint32(elf.NT_PRSTATUS) || len(pr.desc) != 336 || le.Uint32(pr.desc[32:]) != i+1 {
			t.Errorf("vCPU %d: NT_PRSTATUS type %d, %d bytes, pid %d", i, pr.typ, len(pr.desc), le.Uint32(pr.desc[32:]))
		}
		// user_regs_struct at 112: r15 first, rip 16th, fs_base 21st.
		for off, name := range map[int]string{0: "r15", 10 * 8: "rax", 16 * 8: "rip", 17 * 8: "cs", 18 * 8: "eflags", 19 * 8: "rsp", 21 * 8: "fs_base", 22 * 8: "gs_base", 26 * 8: "gs"} {
			if got := le.Uint64(pr.desc[112+off:]); got != regs[name] {
				t.Errorf("vCPU %d: prstatus %s = %#x, want %#x", i, name, got, regs[name])
			}
		}
		q := notes[2+i]
		if q.typ != 0 || len(q.desc) != 440 || le.Uint32(q.desc) != 1 || le.Uint32(q.desc[4:]) != 440 {
			t.Fatalf("vCPU %d: QEMU note type %d, %d bytes, version %d", i, q.typ, len(q.desc), le.Uint32(q.desc))
		}
		for off, want := range map[int]uint64{
			8: regs["rax"], 8 + 6*8: regs["rsp"], 8 + 16*8: regs["rip"], 8 + 17*8: regs["eflags"],
			152 + 16:        0,                              // cs.base
			152 + 4:         0xffffffff | 0x209b00<<32,      // cs.limit, cs.flags
			152 + 3*24 + 16: regs["fs_base"],                // fs.base
			152 + 7*24 + 16: 0xfffff80000200000 + uint64(i), // tr.base
			152 + 8*24 + 16: 0xfffff80000300000,             // gdt.base
			152 + 9*24 + 4:  0xfff,                          // idt.limit, flags 0
			392 + 3*8:       regs["cr3"], 392 + 5*8: regs["k_gs_base"],
		} {
			if got := le.Uint64(q.desc[off:]); got != want {
				t.Errorf("vCPU %d: QEMUCPUState at %d = %#x, want %#x", i, off, got, want)
			}
		}
	}
	fr := string(notes[4].desc)
	if notes[4].typ != frostNoteType || !strings.Contains(fr, "image=consistent\nguest=paused\nvcpus=2\n") ||
		!strings.Contains(fr, "qemu-cpu-state-known=rax,") || !strings.Contains(fr, ",tr.base,") || strings.Contains(fr, "system-registers=") {
		t.Errorf("FROST note (type %d):\n%s", notes[4].typ, fr)
	}
	// The fake knows cs and tr only: ds's limit is not claimed.
	if strings.Contains(fr, "ds.limit") || !strings.Contains(fr, "ds.selector") {
		t.Errorf("FROST note claims or misses fields:\n%s", fr)
	}
}

// A guest that was stopped stays stopped; without the system state the
// note says which fields are unknown and why.
func TestDumpLeavesAStoppedGuestStopped(t *testing.T) {
	cpu := &dumpCPU{running: false}
	sock := startDumpServer(t, cpu, nil)
	core := filepath.Join(t.TempDir(), "guest.elf")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-o", core); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if slices.Contains(cpu.log(), "resume") || cpu.running {
		t.Errorf("calls %v: a guest that was stopped was resumed", cpu.log())
	}
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	notes := coreNotes(t, f)
	if len(notes) == 0 {
		t.Fatal("the core has no notes")
	}
	fr := string(notes[len(notes)-1].desc)
	if !strings.Contains(fr, "image=consistent\nguest=stopped\n") || !strings.Contains(fr, "system-registers=no QEMU monitor") ||
		strings.Contains(fr, "tr.") || !strings.Contains(fr, "fs.base") {
		t.Errorf("FROST note:\n%s", fr)
	}
}

// --live never pauses: the core and the command both say it is a smear.
func TestDumpLiveIsFlaggedAsSmear(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startDumpServer(t, cpu, nil)
	core := filepath.Join(t.TempDir(), "guest.elf")
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--live", "-o", core); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if got := cpu.log(); !slices.Equal(got, []string{"file", "stream", "stream"}) {
		t.Errorf("calls %v: a live dump touched the run state", got)
	}
	if !strings.Contains(stdout.String(), "smear") {
		t.Errorf("stdout does not say the image is a smear: %q", stdout.String())
	}
	f, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	notes := coreNotes(t, f)
	if len(notes) != 1 || notes[0].name != "FROST" || !strings.Contains(string(notes[0].desc), "image=smear\nguest=running\nvcpus=0\nregisters=") {
		t.Errorf("notes %v", notes)
	}
	checkCoreRAM(t, f, dumpRAM())
}

// ^C or SIGTERM (main cancels the context) in the middle of the memory:
// the guest runs again, and no file claims bytes it lacks, partial or
// under its name.
func TestDumpInterrupted(t *testing.T) {
	for _, out := range []string{"file", "-"} {
		t.Run(out, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sent := 0
			cpu := &dumpCPU{running: true}
			sock := startDumpServer(t, cpu, func() {
				if sent++; sent == 2 {
					cancel()
				}
			})
			dir := t.TempDir()
			path := out
			if out == "file" {
				path = filepath.Join(dir, "guest.elf")
			}
			var stdout, stderr bytes.Buffer
			code := runDump(ctx, sock, &stdout, &stderr, "-o", path)
			if code == 0 {
				t.Fatalf("an interrupted dump exited 0: %s", stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr: %q", stderr.String())
			}
			if l := cpu.log(); l[len(l)-1] != "resume" || !cpu.running {
				t.Errorf("calls %v: the guest was left paused", l)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// ^C while the Pause is under way: the pause completes, and is undone.
func TestDumpInterruptedWhilePausing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cpu := &dumpCPU{running: true, onPause: cancel}
	sock := startDumpServer(t, cpu, nil)
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := runDump(ctx, sock, &stdout, &stderr, "-o", filepath.Join(dir, "guest.elf")); code == 0 {
		t.Fatal("exit 0")
	}
	if got := cpu.log(); !slices.Equal(got, []string{"pause", "resume"}) || !cpu.running {
		t.Errorf("calls %v: the guest was left paused", got)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// -o - streams the core to stdout in one pass; what frostctl has to say
// goes to stderr, not into the core.
func TestDumpToStdout(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startDumpServer(t, cpu, nil)
	var stdout, stderr bytes.Buffer
	if code := runDump(context.Background(), sock, &stdout, &stderr, "-o", "-"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := elf.NewFile(bytes.NewReader(stdout.Bytes()))
	if err != nil {
		t.Fatalf("stdout is not an ELF core: %v", err)
	}
	checkCoreRAM(t, f, dumpRAM())
	if last := f.Progs[len(f.Progs)-1]; last.Off+last.Filesz != uint64(stdout.Len()) {
		t.Errorf("stdout holds %d bytes, the headers account for %d", stdout.Len(), last.Off+last.Filesz)
	}
	if !strings.Contains(stderr.String(), "stdout: 12288 bytes of guest RAM") {
		t.Errorf("stderr: %q", stderr.String())
	}

	stdout.Reset()
	if code := runDump(context.Background(), sock, &stdout, &stderr, "--format", "raw", "-o", "-"); code != 0 {
		t.Fatalf("raw: exit %d: %s", code, stderr.String())
	}
	want := dumpRAM()
	clear(want[0x2000:0x3000])
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("raw to stdout: %d bytes, differs from RAM with a zeroed hole", stdout.Len())
	}
}

// The progress bar is drawn on a terminal only: never into a pipe, a file
// or a buffer, where its carriage returns are noise.
func TestDumpProgressOnlyOnATerminal(t *testing.T) {
	cpu := &dumpCPU{running: true}
	sock := startDumpServer(t, cpu, nil)
	dir := t.TempDir()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	var stdout bytes.Buffer
	code := run(context.Background(), []string{"--addr", sock, "dump", "--vm", "win10", "-o", filepath.Join(dir, "a.elf")}, &stdout, pw)
	pw.Close()
	piped, _ := io.ReadAll(pr)
	if code != 0 || len(piped) != 0 {
		t.Errorf("stderr a pipe: exit %d, wrote %q", code, piped)
	}

	leader, tty, err := dumpPTY(t)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	if isTerminal(pw) || isTerminal(&stdout) || !isTerminal(tty) {
		t.Errorf("isTerminal: pipe %v, buffer %v, pty %v", isTerminal(pw), isTerminal(&stdout), isTerminal(tty))
	}
	// A core is not for a terminal's eyes: -o - refuses one.
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--addr", sock, "dump", "--vm", "win10", "-o", "-"}, tty, &stderr); code == 0 || !strings.Contains(stderr.String(), "terminal") {
		t.Errorf("-o - to a terminal: exit %d, %q", code, stderr.String())
	}
	// The pty's buffer holds the bar's few lines until read below.
	if code := run(context.Background(), []string{"--addr", sock, "dump", "--vm", "win10", "-o", filepath.Join(dir, "b.elf")}, &stdout, tty); code != 0 {
		t.Fatalf("stderr a terminal: exit %d", code)
	}
	// Everything is written by now: read until the finished bar, or until
	// the pty has nothing more (the deadline only ends a read that would
	// wait for bytes that never come).
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("100%")) {
		leader.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := leader.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Errorf("stderr a terminal: read %q, %v; want a finished bar", got, err)
			break
		}
	}
}

// The built binary, sent SIGINT or SIGTERM mid-dump, resumes the guest,
// removes its partial file and exits non-zero (main's signal context is
// what the in-process tests cancel).
func TestDumpSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds frostctl")
	}
	bin := filepath.Join(t.TempDir(), "frostctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			streaming := make(chan struct{})
			release := make(chan struct{})
			var once sync.Once
			cpu := &dumpCPU{running: true}
			sock := startDumpServer(t, cpu, func() {
				once.Do(func() { close(streaming) })
				<-release
			})
			defer close(release)
			dir := t.TempDir()
			cmd := exec.Command(bin, "--addr", sock, "dump", "--vm", "win10", "-o", filepath.Join(dir, "guest.elf"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			<-streaming // paused, headers written, the first chunk on its way
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			if err == nil {
				t.Errorf("exit 0 after %v", sig)
			}
			if sig == syscall.SIGKILL {
				// frostctl could do nothing: frostd ends the hold when
				// the call dies with it, and only a temporary file,
				// never guest.elf, may remain.
				waitFor(t, "the guest to be resumed after frostctl died", func() bool {
					l := cpu.log()
					return l[len(l)-1] == "resume"
				})
				if _, err := os.Stat(filepath.Join(dir, "guest.elf")); err == nil {
					t.Error("a killed dump left guest.elf")
				}
				return
			}
			if l := cpu.log(); l[len(l)-1] != "resume" {
				t.Errorf("calls %v: the guest was left paused", l)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr: %q", stderr.String())
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (what it waits on happens in another process or goroutine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
