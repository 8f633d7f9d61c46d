package main

import (
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// dumpGuestMB is the RAM of the full-dump test's guest: the size the
// dump benchmark is quoted at.
const dumpGuestMB = 256

// TestDumpToFileOnLibvirt drives frostctl dump against a real frostd and
// mini-NT under libvirt: the file frostd writes straight from the guest's
// RAM (DumpService.DumpPhysicalToFile) is byte for byte the file the
// streamed path writes, as an ELF core and as a raw image, taken at the
// same stop; a default dump pauses the running guest (frostd says so) and
// the guest runs again after it, a --live one does not pause it; and
// frostd refuses to write anywhere its rule does not allow, saying why,
// leaving such files untouched. With -bench Dump it also runs the dump
// benchmark (benchFullDump).
func TestDumpToFileOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomainWith(ctx, t, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: 250, MemoryMB: dumpGuestMB})
	dir := t.TempDir()
	fd := bootedFrostd(ctx, t, bin, dir, guestDir, d)
	c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: d.name, home: t.TempDir()}
	cpu := pb.NewCPUServiceClient(fd.cc)
	dumps := pb.NewDumpServiceClient(fd.cc)

	t.Run("frostd's file equals the stream", func(t *testing.T) {
		// One stop for all four files, so they show the same moment.
		if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: d.name}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: d.name}); err != nil {
				t.Error(err)
			}
		}()
		for _, format := range []string{"elf", "raw"} {
			byFrostd := filepath.Join(dir, "frostd."+format)
			streamed := filepath.Join(dir, "stream."+format)
			c.must(t, "dump", "--format", format, "--via", "frostd", "-q", "-o", byFrostd)
			c.must(t, "dump", "--format", format, "--via", "stream", "-q", "-o", streamed)
			a, err := os.ReadFile(byFrostd)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(streamed)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) < dumpGuestMB<<20-(1<<20) || !bytes.Equal(a, b) {
				t.Errorf("%s: frostd's file (%d bytes) and the streamed one (%d bytes) differ", format, len(a), len(b))
			}
			if format == "elf" {
				checkCoreLayout(t, byFrostd)
			}
		}
	})

	t.Run("held by default, resumed after, live not held", func(t *testing.T) {
		n := d.writes(t)
		out := c.must(t, "dump", "--via", "frostd", "-q", "-o", filepath.Join(dir, "held.elf"))
		if !strings.Contains(out, "paused for the dump, and resumed after it") {
			t.Errorf("summary: %q", out)
		}
		d.waitMoreWrites(t, n)
		core, err := elf.Open(filepath.Join(dir, "held.elf"))
		if err != nil {
			t.Fatal(err)
		}
		defer core.Close()
		if !hasNote(t, core, "CORE") {
			t.Error("a paused dump has no CPU notes: its registers were not read at the stop")
		}

		// The RPC on its own holds the guest too, and says so.
		ranges := physicalMap(ctx, t, fd, d.name)
		for _, live := range []bool{false, true} {
			path := emptyFile(t, dir, "rpc.raw")
			last, err := dumpToFile(ctx, dumps, &pb.DumpPhysicalToFileRequest{Vm: d.name, Path: path, Ranges: ranges,
				Layout: pb.DumpFileLayout_DUMP_FILE_LAYOUT_AT_ADDRESS, Live: live})
			if err != nil {
				t.Fatal(err)
			}
			if last.GetPausedRunningGuest() == live {
				t.Errorf("live %v: frostd says it paused the running guest: %v", live, last.GetPausedRunningGuest())
			}
			if fi, err := os.Stat(path); err != nil || uint64(fi.Size()) != last.GetFileSize() || last.GetFileSize() != ranges[len(ranges)-1].GetEnd() {
				t.Errorf("live %v: file %v (%v), frostd says %d bytes", live, fi, err, last.GetFileSize())
			}
			n := d.writes(t)
			d.waitMoreWrites(t, n)
		}
	})

	t.Run("refused outside the rule", func(t *testing.T) {
		ranges := physicalMap(ctx, t, fd, d.name)
		req := func(path string) *pb.DumpPhysicalToFileRequest {
			return &pb.DumpPhysicalToFileRequest{Vm: d.name, Path: path, Ranges: ranges, Layout: pb.DumpFileLayout_DUMP_FILE_LAYOUT_AT_ADDRESS, Live: true}
		}
		precious := filepath.Join(dir, "precious")
		if err := os.WriteFile(precious, []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link")
		if err := os.Symlink(emptyFile(t, dir, "target"), link); err != nil {
			t.Fatal(err)
		}
		others := emptyFile(t, dir, "others")
		if err := os.Chown(others, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			path string
			code codes.Code
			why  string
		}{
			{"relative.raw", codes.InvalidArgument, "not absolute"},
			{filepath.Join(dir, "missing.raw"), codes.PermissionDenied, "cannot open it"},
			{precious, codes.PermissionDenied, "not empty"},
			{link, codes.PermissionDenied, "cannot open it"},
			{others, codes.PermissionDenied, "owned by uid 65534"},
			{dir, codes.PermissionDenied, "cannot open it"},
			{"/proc/self/oom_score_adj", codes.PermissionDenied, "file system"},
		} {
			_, err := dumpToFile(ctx, dumps, req(tc.path))
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: %v; want %v saying %q", tc.path, err, tc.code, tc.why)
			}
		}
		if b, _ := os.ReadFile(precious); string(b) != "keep me" {
			t.Errorf("a refused dump changed %s: %q", precious, b)
		}
		for _, p := range []string{link, others, filepath.Join(dir, "missing.raw")} {
			if fi, err := os.Stat(p); err == nil && fi.Size() != 0 {
				t.Errorf("a refused dump wrote %d bytes into %s", fi.Size(), p)
			}
		}
		// frostctl says the same when told to have frostd write.
		_, errOut, code := c.run(t, "dump", "--via", "frostd", "-q", "-o", "-")
		if code == 0 || !strings.Contains(errOut, "--via frostd needs a file") {
			t.Errorf("--via frostd to stdout: exit %d, %s", code, errOut)
		}
	})

	if benchRequested("Dump") {
		benchFullDump(ctx, t, fd, c, d, dir)
	}
}

// emptyFile creates an empty file in dir, as a client does before asking
// frostd to fill it.
func emptyFile(t *testing.T, dir, pattern string) string {
	t.Helper()
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

func physicalMap(ctx context.Context, t *testing.T, fd *frostdProc, vm string) []*pb.PhysicalRange {
	t.Helper()
	m, err := pb.NewMemoryServiceClient(fd.cc).GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: vm})
	if err != nil {
		t.Fatal(err)
	}
	return m.GetRanges()
}

// dumpToFile runs DumpPhysicalToFile to its end and returns the last
// message.
func dumpToFile(ctx context.Context, dumps pb.DumpServiceClient, req *pb.DumpPhysicalToFileRequest) (*pb.DumpPhysicalToFileResponse, error) {
	s, err := dumps.DumpPhysicalToFile(ctx, req)
	if err != nil {
		return nil, err
	}
	var last *pb.DumpPhysicalToFileResponse
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return nil, err
		}
		last = m
	}
}

func hasNote(t *testing.T, f *elf.File, name string) bool {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(b, []byte(name+"\x00"))
	}
	return false
}

// checkCoreLayout: an ELF core whose PT_LOADs follow the notes back to
// back and end at the file's end.
func checkCoreLayout(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	var end uint64
	loads := 0
	for _, p := range f.Progs {
		end = max(end, p.Off+p.Filesz)
		if p.Type == elf.PT_LOAD {
			loads++
		}
	}
	if loads == 0 || end != uint64(fi.Size()) || f.Type != elf.ET_CORE {
		t.Errorf("%s: %d PT_LOADs ending at %d, file %d bytes, type %v", path, loads, end, fi.Size(), f.Type)
	}
}
