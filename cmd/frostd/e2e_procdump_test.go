package main

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pdb"
)

// TestProcessDumpOnLibvirt is issue 16's process and module dumps through
// a real frostd and the frostctl binary on mini-NT, checked with tools
// that know nothing of Frost: lldb opens the minidump (modules with the
// RSDS identities of the guest's own PDBs, writer's thread, its
// registers, and writer.exe's .text byte for byte against the file it
// was loaded from), and llvm-readobj parses the rebuilt frostrt.dll and
// hal.dll, whose .text must equal the files'.
//
// With -bench Procdump it also measures a procdump of writer.exe against
// reading the same pages with ReadVirtual over gRPC, in the same run:
//
//	go test -run TestProcessDumpOnLibvirt -bench Procdump -timeout 30m ./cmd/frostd/
func TestProcessDumpOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	lldb := lookTool(t, "lldb", "lldb-14", "lldb-15", "lldb-16")
	readobj := lookTool(t, "llvm-readobj", "llvm-readobj-14", "llvm-readobj-15")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	dir := t.TempDir()
	fd := bootedFrostd(ctx, t, bin, dir, guestDir, d)
	writer := guestPIDs(t, d)["writer.exe"]
	if writer == 0 {
		t.Fatal("the guest reported no writer.exe")
	}
	var writerTIDs []uint64
	for _, ev := range d.report(t).All("teb") {
		if pid, _ := ev.Uint("pid"); pid == uint64(writer) {
			tid, _ := ev.Uint("tid")
			writerTIDs = append(writerTIDs, tid)
		}
	}
	if len(writerTIDs) == 0 {
		t.Fatal("the guest reported no thread of writer.exe")
	}
	c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: d.name, home: t.TempDir()}

	t.Run("procdump opens in lldb", func(t *testing.T) {
		dmp := filepath.Join(dir, "writer.dmp")
		n := d.writes(t)
		out := c.must(t, "procdump", "--json=proto", "--pid", strconv.Itoa(int(writer)), "-o", dmp)
		plan, trailer := procdumpJSON(t, out)
		// The guest was paused for the dump and runs again.
		d.waitMoreWrites(t, n)
		if plan.GetPid() != uint32(writer) || trailer.GetPages().GetWritten() == 0 || trailer.GetBytesWritten() != plan.GetFileSize() {
			t.Fatalf("plan %v\ntrailer %v", plan, trailer)
		}
		if fi, err := os.Stat(dmp); err != nil || uint64(fi.Size()) != plan.GetFileSize() {
			t.Fatalf("%s: %v, %v; plan says %d bytes", dmp, fi, err, plan.GetFileSize())
		}
		if u := trailer.GetUnread(); len(u) != 0 {
			t.Errorf("mini-NT keeps every page in RAM, yet pages were unread: %v", u)
		}
		checkLLDB(t, lldb, dmp, guestDir, plan, writerTIDs)
	})

	t.Run("procdump --live and its summary", func(t *testing.T) {
		dmp := filepath.Join(dir, "live.dmp")
		out := c.must(t, "procdump", "--pid", strconv.Itoa(int(writer)), "-o", dmp, "--live", "-q")
		for _, want := range []string{"minidump of writer.exe", "live", "Pages:", "from RAM", "writer.exe", "ntdll.dll", "frostrt.dll", "Thread"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
		}
		if _, err := os.Stat(dmp); err != nil {
			t.Error(err)
		}
	})

	t.Run("moddump of a process's DLL", func(t *testing.T) {
		file := filepath.Join(dir, "frostrt.dll")
		out := c.must(t, "moddump", "--pid", strconv.Itoa(int(writer)), "--module", "frostrt.dll", "-o", file)
		if !strings.Contains(out, "frostrt.dll") || !strings.Contains(out, "frostrt.pdb") {
			t.Errorf("summary:\n%s", out)
		}
		checkRebuilt(t, readobj, file, filepath.Join(guestDir, "frostrt.dll"))
	})

	t.Run("moddump of a kernel module", func(t *testing.T) {
		file := filepath.Join(dir, "hal.dll")
		c.must(t, "moddump", "--kernel", "--module", "hal.dll", "-o", file)
		checkRebuilt(t, readobj, file, filepath.Join(guestDir, "hal.dll"))
	})

	t.Run("unknown process and module are NOT_FOUND", func(t *testing.T) {
		dc := pb.NewDumpServiceClient(fd.cc)
		s, err := dc.DumpProcess(ctx, &pb.DumpProcessRequest{Vm: d.name, Pid: 99999})
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "99999") {
			t.Errorf("unknown pid: %v", err)
		}
		m, err := dc.DumpModule(ctx, &pb.DumpModuleRequest{Vm: d.name, Scope: &pb.DumpModuleRequest_Pid{Pid: writer},
			Module: &pb.DumpModuleRequest_Name{Name: "nosuch.dll"}})
		if err == nil {
			_, err = m.Recv()
		}
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "nosuch.dll") || !strings.Contains(err.Error(), "frostrt.dll") {
			t.Errorf("unknown module: %v", err)
		}
		_, errOut, code := c.run(t, "procdump", "--pid", "99999", "-o", filepath.Join(dir, "none.dmp"))
		if code == 0 || !strings.Contains(errOut, "99999") {
			t.Errorf("frostctl procdump of no process: exit %d, %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "none.dmp")); !os.IsNotExist(err) {
			t.Errorf("a failed dump left a file: %v", err)
		}
	})

	if benchRequested("Procdump") {
		t.Run("benchmark", func(t *testing.T) { benchProcdump(ctx, t, fd, d.name, writer) })
	}
}

func lookTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	unavailable(t, "%s not found (run `make deps`)", names[0])
	return ""
}

// procdumpJSON decodes frostctl procdump --json: the plan, then the
// trailer, one JSON line each.
func procdumpJSON(t *testing.T, out string) (*pb.DumpPlan, *pb.DumpTrailer) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("procdump --json printed %d lines, want 2:\n%s", len(lines), out)
	}
	plan, trailer := &pb.DumpPlan{}, &pb.DumpTrailer{}
	if err := protojson.Unmarshal([]byte(lines[0]), plan); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal([]byte(lines[1]), trailer); err != nil {
		t.Fatal(err)
	}
	return plan, trailer
}

// lldbUUID is how lldb shows a module's RSDS identity: the GUID in its
// usual text form, then the age as 8 hex digits.
func lldbUUID(id symbols.Identity) string {
	g := id.GUID
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X-%08X", binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16], id.Age)
}

func runLLDB(t *testing.T, lldb, core string, cmds ...string) string {
	t.Helper()
	args := []string{"-b", "--no-lldbinit", "-c", core}
	for _, c := range cmds {
		args = append(args, "-o", c)
	}
	out, err := exec.Command(lldb, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lldb %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// checkLLDB: lldb lists writer.exe, ntdll.dll and frostrt.dll with the
// identities of the guest's PDBs, writer's threads with the RIP the plan
// gave, and reads writer.exe's .text as the file holds it.
func checkLLDB(t *testing.T, lldb, dmp, guestDir string, plan *pb.DumpPlan, tids []uint64) {
	t.Helper()
	out := runLLDB(t, lldb, dmp, "image list", "thread list")
	t.Logf("lldb:\n%s", out)
	bases := map[string]uint64{}
	for _, m := range []string{"writer", "ntdll", "frostrt"} {
		tab, err := pdb.Open(filepath.Join(guestDir, m+".pdb"))
		if err != nil {
			t.Fatal(err)
		}
		uuid := lldbUUID(tab.Identity())
		re := regexp.MustCompile(`(?m)^\[\s*\d+\] ` + regexp.QuoteMeta(uuid) + ` 0x([0-9a-f]+) .*` + regexp.QuoteMeta(m) + `\.(exe|dll)`)
		mm := re.FindStringSubmatch(out)
		if mm == nil {
			t.Errorf("lldb's image list has no %s with UUID %s", m, uuid)
			continue
		}
		bases[m], _ = strconv.ParseUint(mm[1], 16, 64)
	}
	rips := map[uint64]uint64{}
	for _, m := range regexp.MustCompile(`thread #\d+: tid = 0x([0-9a-f]+), 0x([0-9a-f]+)`).FindAllStringSubmatch(out, -1) {
		tid, _ := strconv.ParseUint(m[1], 16, 64)
		rips[tid], _ = strconv.ParseUint(m[2], 16, 64)
	}
	for _, tid := range tids {
		var info *pb.DumpThreadInfo
		for _, th := range plan.GetThreads() {
			if th.GetTid() == tid {
				info = th
			}
		}
		rip, ok := rips[tid]
		if info == nil || !ok {
			t.Errorf("thread %d: in the plan %v, in lldb %v", tid, info, ok)
			continue
		}
		if rip != info.GetRip() || rip == 0 {
			t.Errorf("thread %d: lldb's pc %#x, the context's RIP %#x (%s)", tid, rip, info.GetRip(), info.GetContextSource())
		}
		// A thread blocked in a system call resumes after its syscall
		// instruction (0f 05), which its trap frame saved.
		if strings.HasPrefix(info.GetContextSource(), "trap frame") {
			mem := lldbBytes(t, lldb, dmp, rip-2, 2)
			if !bytes.Equal(mem, []byte{0x0f, 0x05}) {
				t.Errorf("thread %d: the bytes before its trap frame's RIP %#x are % x, not a syscall", tid, rip, mem)
			}
		}
	}
	if base, ok := bases["writer"]; ok {
		f, err := pe.Open(filepath.Join(guestDir, "writer.exe"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		text := f.Section(".text")
		want, err := text.Data()
		if err != nil {
			t.Fatal(err)
		}
		want = want[:min(len(want), int(text.VirtualSize))]
		got := lldbBytes(t, lldb, dmp, base+uint64(text.VirtualAddress), len(want))
		if !bytes.Equal(got, want) {
			t.Errorf("writer.exe's .text (%d bytes at %#x) read by lldb differs from the file's", len(want), base+uint64(text.VirtualAddress))
		}
	}
}

// lldbBytes is lldb's "memory read --binary" of n bytes at addr.
func lldbBytes(t *testing.T, lldb, dmp string, addr uint64, n int) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "mem.bin")
	runLLDB(t, lldb, dmp, fmt.Sprintf("memory read --force --binary --outfile %s %#x %#x", file, addr, addr+uint64(n)))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRebuilt: llvm-readobj parses the rebuilt module, and its .text is
// the file's (sections hold what memory held; .text is never written).
func checkRebuilt(t *testing.T, readobj, rebuilt, orig string) {
	t.Helper()
	out, err := exec.Command(readobj, "--file-headers", "--sections", rebuilt).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Name: .text") || strings.Contains(strings.ToLower(string(out)), "warning") {
		t.Fatalf("llvm-readobj %s: %v\n%s", rebuilt, err, out)
	}
	text := func(path string) []byte {
		f, err := pe.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer f.Close()
		s := f.Section(".text")
		if s == nil {
			t.Fatalf("%s has no .text", path)
		}
		b, err := io.ReadAll(io.LimitReader(s.Open(), int64(s.VirtualSize)))
		if err != nil {
			t.Fatal(err)
		}
		return b[:min(len(b), int(s.VirtualSize))]
	}
	if got, want := text(rebuilt), text(orig); !bytes.Equal(got, want) {
		t.Errorf("%s: .text (%d bytes) differs from %s's (%d bytes)", rebuilt, len(got), orig, len(want))
	}
}
