package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/api"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// cliRAMWithHole is the fake guest's RAM as a read returns it: the MMIO
// hole reads as zeros.
func cliRAMWithHole() []byte {
	ram := cliGuestRAM()
	clear(ram[cliHoleStart:cliHoleEnd])
	return ram
}

// read used to refuse more than 1 MiB ("use StreamVirtual", an API call,
// not a command). It streams any length into -o FILE now, and says which
// pages it could not read (issue 12, item 10).
func TestReadStreamsAnyLengthToFile(t *testing.T) {
	bin := buildFrostctl(t)
	d := startFrostd(t)
	out := filepath.Join(t.TempDir(), "ram.bin")
	stdout, stderr, code := runBinary(t, bin, nil, "--addr", d.sock, "read", "--vm", "win10", "--physical", "0", "3M", "-o", out)
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if ok, _ := d.calls.get(method("MemoryService/StreamPhysical")); !ok {
		t.Errorf("the read did not stream")
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cliRAMWithHole()) {
		t.Errorf("the file (%d bytes) differs from guest RAM (%d bytes)", len(got), cliRAM)
	}
	for _, want := range []string{
		"3145728 bytes from 00000000: 3137536 read, 8192 not read (zeros in the output)",
		`not read: 00100000 +0x2000: not-ram: `,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	// Not a terminal: no progress bar.
	if stderr != "" {
		t.Errorf("stderr is not a terminal, yet got %q", stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*partial*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// -o - writes the same bytes to stdout.
	stdout, stderr, code = runBinary(t, bin, nil, "--addr", d.sock, "read", "--vm", "win10", "--physical", "0", "3M", "-o", "-")
	if code != 0 || stdout != string(cliRAMWithHole()) {
		t.Errorf("-o -: exit %d, %d bytes on stdout; stderr:\n%s", code, len(stdout), stderr)
	}
	if !strings.Contains(stderr, "8192 not read") {
		t.Errorf("-o -: the summary is not on stderr: %q", stderr)
	}
}

// A hexdump of more than 1 MiB streams to a pipe, line for line, with the
// unread bytes as ?? and the unread pieces listed after.
func TestReadHexdumpStreamsToAPipe(t *testing.T) {
	bin := buildFrostctl(t)
	d := startFrostd(t)
	stdout, stderr, code := runBinary(t, bin, nil, "--addr", d.sock, "read", "--vm", "win10", "--physical", "0xff000", "0x104000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if want := 0x104000/16 + 1; len(lines) != want {
		t.Errorf("%d lines, want %d (one per 16 bytes, then the unread piece)", len(lines), want)
	}
	for _, want := range []string{
		"000ff000  00 f0 0f 00 04 f0 0f 00-08 f0 0f 00 0c f0 0f 00  ................\n",
		"00100000  ?? ?? ?? ?? ?? ?? ?? ??-?? ?? ?? ?? ?? ?? ?? ??  ????????????????\n",
		"00102000  00 20 10 00 04 20 10 00-08 20 10 00 0c 20 10 00  . ... ... ... ..\n",
		"not read: 00100000 +0x2000: not-ram",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("hexdump lacks %q", want)
		}
	}
}

// openPTY opens a pseudo-terminal pair: what is written to tty is read
// from master.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); m.Close() })
	return m, s
}

// On a terminal, a hexdump longer than 1 MiB is refused with what to do
// instead, and a read into a file draws its progress bar.
func TestReadOnATerminal(t *testing.T) {
	d := startFrostd(t)
	master, tty := openPTY(t)
	var errb bytes.Buffer
	code := run(context.Background(), []string{"--addr", d.sock, "read", "--vm", "win10", "--physical", "0", "2M"}, tty, &errb)
	if code != 1 || !strings.Contains(errb.String(), "a hexdump of 2097152 bytes is 131072 lines: write the bytes to a file with -o FILE, or pipe the hexdump") {
		t.Errorf("2M hexdump on a terminal: exit %d, %q", code, errb.String())
	}
	if ok, _ := d.calls.get(method("MemoryService/StreamPhysical")); ok {
		t.Errorf("the refused hexdump was read anyway")
	}

	out := filepath.Join(t.TempDir(), "ram.bin")
	var stdout bytes.Buffer
	code = run(context.Background(), []string{"--addr", d.sock, "read", "--vm", "win10", "--physical", "0", "3M", "-o", out}, &stdout, tty)
	if code != 0 {
		t.Fatalf("read -o with a terminal's stderr: exit %d", code)
	}
	tty.Close()
	bar, _ := io.ReadAll(master) // EIO once the terminal side is closed
	if !strings.Contains(string(bar), "100% 3.0/3.0 MiB") {
		t.Errorf("no finished progress bar on the terminal: %q", bar)
	}
}

// fakeVirtualStream serves StreamVirtual: the range in two chunks, the
// guest running (smear), one page paged out; with failAt, an error after
// the first chunk.
type fakeVirtualStream struct {
	pb.UnimplementedMemoryServiceServer
	failAt bool
}

func (f fakeVirtualStream) StreamVirtual(req *pb.StreamVirtualRequest, s pb.MemoryService_StreamVirtualServer) error {
	const chunk = 1 << 20
	for done := uint64(0); done < req.GetLength(); done += chunk {
		if f.failAt && done > 0 {
			return status.Error(codes.Unavailable, "the VM went away")
		}
		n := min(chunk, req.GetLength()-done)
		data := bytes.Repeat([]byte{0xab}, int(n))
		pages := []*pb.PageStatus{{Address: req.GetAddress() + done, Length: n, Served: true}}
		if done == 0 {
			clear(data[0x3000:0x4000])
			pages = []*pb.PageStatus{
				{Address: req.GetAddress(), Offset: 0, Length: 0x3000, Served: true},
				{Address: req.GetAddress() + 0x3000, Offset: 0x3000, Length: 0x1000, Reason: "in paging file 0 at offset 0x7000",
					Location: &pb.Location{State: pb.PageState_PAGE_STATE_PAGEFILE}},
				{Address: req.GetAddress() + 0x4000, Offset: 0x4000, Length: n - 0x4000, Served: true},
			}
		}
		if err := s.Send(&pb.StreamVirtualResponse{Address: req.GetAddress() + done, Data: data, Pages: pages, Smear: true}); err != nil {
			return err
		}
	}
	return nil
}

func startVirtualServer(t *testing.T, f fakeVirtualStream) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	api.Register(overriding{ServiceRegistrar: srv, skip: map[string]bool{pb.MemoryService_ServiceDesc.ServiceName: true}}, api.Config{})
	pb.RegisterMemoryServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return sock
}

// A virtual read streams through StreamVirtual and reports the paged-out
// page and the smear; one that fails midway leaves no file behind.
func TestReadVirtualStreamsAndFailsCleanly(t *testing.T) {
	bin := buildFrostctl(t)
	sock := startVirtualServer(t, fakeVirtualStream{})
	dir := t.TempDir()
	out := filepath.Join(dir, "proc.bin")
	stdout, stderr, code := runBinary(t, bin, nil, "--addr", sock, "read", "--vm", "win10", "--pid", "420", "7ff6`12340000", "0x180000", "-o", out)
	t.Logf("stdout:\n%sstderr:\n%s", stdout, stderr)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) != 0x180000 || b[0x3000] != 0 || b[0x4000] != 0xab {
		t.Fatalf("file: %d bytes, %v", len(b), err)
	}
	for _, want := range []string{
		"1572864 bytes from 00007ff6`12340000: 1568768 read, 4096 not read",
		"not read: 00007ff6`12343000 +0x1000: pagefile: in paging file 0 at offset 0x7000",
		"the guest ran during the read",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}

	sock = startVirtualServer(t, fakeVirtualStream{failAt: true})
	failed := filepath.Join(dir, "failed.bin")
	_, stderr, code = runBinary(t, bin, nil, "--addr", sock, "read", "--vm", "win10", "--kernel", "fffff800`00000000", "3M", "-o", failed)
	if code != 1 || !strings.Contains(stderr, "the VM went away") {
		t.Errorf("failed read: exit %d, %q", code, stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("a failed read left files: %v", left)
	}
}
