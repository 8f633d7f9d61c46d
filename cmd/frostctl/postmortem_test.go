package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// goneMemory is a guest whose QEMU is gone: reads fail unless they ask
// for post-mortem bytes, which come flagged (as api/gone.go serves them).
type goneMemory struct {
	pb.UnimplementedMemoryServiceServer
}

var lastWords = []byte("last words of the guest")

func (goneMemory) ReadPhysical(_ context.Context, req *pb.ReadPhysicalRequest) (*pb.ReadPhysicalResponse, error) {
	if !req.GetPostMortem() {
		return nil, status.Error(codes.FailedPrecondition, "guest is gone")
	}
	return &pb.ReadPhysicalResponse{Data: lastWords[:req.GetLength()], PostMortem: true,
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}}, nil
}

func (goneMemory) StreamPhysical(req *pb.StreamPhysicalRequest, s grpc.ServerStreamingServer[pb.StreamPhysicalResponse]) error {
	if !req.GetPostMortem() {
		return status.Error(codes.FailedPrecondition, "guest is gone")
	}
	return s.Send(&pb.StreamPhysicalResponse{Address: req.GetAddress(), Data: lastWords[:req.GetLength()], PostMortem: true,
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}})
}

func startGoneServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frostd.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterMemoryServiceServer(srv, goneMemory{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path
}

// TestReadPostMortem: read --post-mortem asks for a gone guest's bytes,
// and marks them, in a hexdump, in a file's summary, and in --json; it is
// refused for virtual addresses, and a read without it fails.
func TestReadPostMortem(t *testing.T) {
	sock := startGoneServer(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"read", "--vm", "dead", "--physical", "--post-mortem", "0x1000", "0x10"}, 0, postMortemNote},
		{[]string{"read", "--vm", "dead", "--physical", "--post-mortem", "0x1000", "0x10", "-o", filepath.Join(dir, "ram.bin")}, 0, postMortemNote},
		{[]string{"read", "--vm", "dead", "--physical", "--post-mortem", "0x1000", "0x10", "--json"}, 0, `"post_mortem": true`},
		{[]string{"read", "--vm", "dead", "--physical", "0x1000", "0x10"}, 1, "guest is gone"},
		{[]string{"read", "--vm", "dead", "--kernel", "--post-mortem", "0x1000", "0x10"}, 1, "--post-mortem reads guest-physical memory only"},
	} {
		stdout, stderr, code := frostctl(t, sock, tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("frostctl %s: exit %d, want %d and %q\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, stdout, stderr)
		}
		if tc.code == 0 && !strings.Contains(stdout, "last words") && !strings.Contains(stdout, "bytes from") && !strings.Contains(stdout, "data") {
			t.Errorf("frostctl %s printed no data:\n%s", strings.Join(tc.args, " "), stdout)
		}
	}
}
