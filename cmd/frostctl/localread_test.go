package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/client"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
)

// sharedFake is the fake guest with its RAM in a file frostd can hand to
// a local client, as a guest with a shared RAM file has.
type sharedFake struct {
	*fakeTarget
	path string
	// ranges is the guest-physical map, file offset = GPA (nil: all of
	// ram); elsewhere is not RAM, and reads of it are frostd's.
	ranges []vmi.PhysicalRange
}

func (s *sharedFake) ShareRAM(context.Context) (*vmi.SharedRAM, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	n := uint64(len(s.ram))
	ranges := s.ranges
	if ranges == nil {
		ranges = []vmi.PhysicalRange{{GPA: 0, Size: n}}
	}
	return &vmi.SharedRAM{File: f, Size: n, Kind: vmi.MemorySharedFile, Ranges: ranges}, nil
}

// grpcMemory answers reads over gRPC with bytes the RAM file does not
// hold, and counts them, so a test can tell which path served a read.
type grpcMemory struct {
	pb.UnimplementedMemoryServiceServer
	calls atomic.Int32
}

func (m *grpcMemory) ReadPhysical(_ context.Context, req *pb.ReadPhysicalRequest) (*pb.ReadPhysicalResponse, error) {
	m.calls.Add(1)
	return &pb.ReadPhysicalResponse{Data: bytes.Repeat([]byte("G"), int(req.GetLength())),
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}}, nil
}

func (m *grpcMemory) StreamPhysical(req *pb.StreamPhysicalRequest, s grpc.ServerStreamingServer[pb.StreamPhysicalResponse]) error {
	m.calls.Add(1)
	return s.Send(&pb.StreamPhysicalResponse{Address: req.GetAddress(), Data: bytes.Repeat([]byte("G"), int(req.GetLength())),
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}})
}

// startLocalServer serves gRPC (grpcMemory) and, beside it, frostd's
// local-memory side socket over a VM whose RAM file holds ram.
func startLocalServer(t *testing.T, ram []byte, mapped []vmi.PhysicalRange) (string, *grpcMemory) {
	t.Helper()
	dir := t.TempDir()
	ramPath := sharedRAMFile(t, ram)
	reg := session.NewRegistry(nil, nil)
	addSession(t, reg, &session.Config{}, "win10", &sharedFake{fakeTarget: &fakeTarget{ram: ram}, path: ramPath, ranges: mapped})
	sock := filepath.Join(dir, "frostd.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	mem := &grpcMemory{}
	pb.RegisterMemoryServiceServer(srv, mem)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	serveSide(t, sock, reg)
	return sock, mem
}

// serveSide serves frostd's local-memory side socket for the gRPC socket
// sock, over reg.
func serveSide(t *testing.T, sock string, reg *session.Registry) {
	t.Helper()
	side, err := net.Listen("unix", client.LocalMemorySocket(sock))
	if err != nil {
		t.Fatal(err)
	}
	go (&api.LocalMemory{Registry: reg}).Serve(side)
	t.Cleanup(func() { side.Close() })
}

// sharedRAMFile writes ram where a sharedFake hands it out from.
func sharedRAMFile(t *testing.T, ram []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ram")
	if err := os.WriteFile(path, ram, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadPhysicalLocal: on frostd's host, read --physical copies from
// the mapping of guest RAM (no gRPC read), as a hexdump and into a file
// larger than one chunk; --no-local and --json ask frostd.
func TestReadPhysicalLocal(t *testing.T) {
	ram := bytes.Repeat([]byte("frost-ram-bytes!"), (3<<20)/16)
	sock, mem := startLocalServer(t, ram, nil)

	stdout, stderr, code := frostctl(t, sock, "read", "--vm", "win10", "--physical", "0x1000", "0x20")
	if code != 0 || !strings.Contains(stdout, "frost-ram-bytes!") || mem.calls.Load() != 0 {
		t.Fatalf("a local hexdump: exit %d, %d gRPC reads\n%s%s", code, mem.calls.Load(), stdout, stderr)
	}

	out := filepath.Join(t.TempDir(), "ram.bin")
	n := uint64(maxUnaryRead*2 + 0x1000) // three chunks, the last short
	stdout, stderr, code = frostctl(t, sock, "read", "--vm", "win10", "--physical", "0x1000", "0x201000", "-o", out)
	got, err := os.ReadFile(out)
	if code != 0 || err != nil || !bytes.Equal(got, ram[0x1000:0x1000+n]) || mem.calls.Load() != 0 {
		t.Fatalf("a local read to a file: exit %d, %v, %d bytes (equal %v), %d gRPC reads\n%s%s",
			code, err, len(got), bytes.Equal(got, ram[0x1000:0x1000+n]), mem.calls.Load(), stdout, stderr)
	}
	if !strings.Contains(stdout, "2101248 bytes from") {
		t.Errorf("summary:\n%s", stdout)
	}

	for _, extra := range [][]string{{"--no-local"}, {"--json"}} {
		before := mem.calls.Load()
		args := append([]string{"read", "--vm", "win10", "--physical", "0x1000", "0x20"}, extra...)
		stdout, stderr, code = frostctl(t, sock, args...)
		if code != 0 || mem.calls.Load() != before+1 {
			t.Errorf("frostctl %s: exit %d, %d gRPC reads, want 1\n%s%s", strings.Join(args, " "), code, mem.calls.Load()-before, stdout, stderr)
		}
	}
}

// TestReadPhysicalLocalPastRAM: a read that runs past the guest's RAM
// map takes the bytes the mapping holds from it and the rest from
// frostd, in order.
func TestReadPhysicalLocalPastRAM(t *testing.T) {
	ram := bytes.Repeat([]byte("frost-ram-bytes!"), (3<<20)/16)
	sock, mem := startLocalServer(t, ram, []vmi.PhysicalRange{{GPA: 0, Size: 2 << 20}})
	out := filepath.Join(t.TempDir(), "ram.bin")
	stdout, stderr, code := frostctl(t, sock, "read", "--vm", "win10", "--physical", "0", "3M", "-o", out)
	got, err := os.ReadFile(out)
	if code != 0 || err != nil || len(got) != 3<<20 {
		t.Fatalf("exit %d, %v, %d bytes\n%s%s", code, err, len(got), stdout, stderr)
	}
	if !bytes.Equal(got[:2<<20], ram[:2<<20]) || !bytes.Equal(got[2<<20:], bytes.Repeat([]byte("G"), 1<<20)) {
		t.Errorf("the file is not the mapped RAM then frostd's bytes")
	}
	if mem.calls.Load() == 0 {
		t.Errorf("no gRPC read for the range past RAM")
	}
}
