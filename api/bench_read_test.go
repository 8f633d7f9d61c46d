package api_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

const (
	readSize  = 64 << 20
	readChunk = 1 << 20 // the API's default chunk
	patMagic  = 0x46524F5354000000
)

// constMemory streams constant bytes in the API's own messages: the
// transport's ceiling, with no guest behind it.
type constMemory struct {
	pb.UnimplementedMemoryServiceServer
	chunk []byte
}

func (c constMemory) StreamVirtual(req *pb.StreamVirtualRequest, stream pb.MemoryService_StreamVirtualServer) error {
	for off := uint64(0); off < req.GetLength(); off += uint64(len(c.chunk)) {
		n := min(uint64(len(c.chunk)), req.GetLength()-off)
		if err := stream.Send(&pb.StreamVirtualResponse{Address: req.GetAddress() + off, Data: c.chunk[:n],
			Pages: []*pb.PageStatus{{Address: req.GetAddress() + off, Length: n, Served: true}}}); err != nil {
			return err
		}
	}
	return nil
}

// benchRead reads swapper's 64 MiB pattern region by pid through
// StreamVirtual with the guest paused, and streams 64 MiB of constant
// bytes from constMemory over a unix socket, in turns.
func (g *benchGuest) benchRead(b *testing.B) {
	if g.patPages*4096 < readSize {
		b.Fatalf("swapper's region is %d pages, under 64 MiB", g.patPages)
	}
	g.attach(b)
	defer g.detach(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cpu := pb.NewCPUServiceClient(g.cc)
	// The longest lease (10 min) outlasts the benchmark's 5 min: a
	// shorter one would lapse and resume the guest mid-measure.
	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: benchVM, Lease: durationpb.New(10 * time.Minute)}); err != nil {
		b.Fatal(err)
	}
	defer cpu.Resume(context.WithoutCancel(ctx), &pb.ResumeRequest{Vm: benchVM})

	sock := filepath.Join(b.TempDir(), "const.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterMemoryServiceServer(srv, constMemory{chunk: bytes.Repeat([]byte{0xa5}, readChunk)})
	go srv.Serve(lis)
	defer srv.Stop()
	constant := pb.NewMemoryServiceClient(dialBench(b, sock))
	guest := pb.NewMemoryServiceClient(g.cc)
	req := &pb.StreamVirtualRequest{Vm: benchVM, Space: &pb.AddressSpace{Space: &pb.AddressSpace_Pid{Pid: g.swapper}},
		Address: g.pattern, Length: readSize, ChunkSize: readChunk}
	// Warm up: the first call finds the kernel and loads its symbols.
	g.readOnce(ctx, b, guest, req, true)

	var tGuest, tConst, tUnary time.Duration
	for i := 0; i < b.N; i++ {
		tGuest += g.readOnce(ctx, b, guest, req, true)
		tConst += g.readOnce(ctx, b, constant, req, false)
		tUnary += g.readUnary(ctx, b, guest, req)
	}
	gbps := func(d time.Duration) float64 { return float64(b.N) * readSize / d.Seconds() / 1e9 }
	b.ReportMetric(gbps(tGuest), "guest-GB/s")
	b.ReportMetric(gbps(tUnary), "unary-1MiB-GB/s")
	b.ReportMetric(gbps(tConst), "const-GB/s")
	b.ReportMetric(100*tConst.Seconds()/tGuest.Seconds(), "guest/const-%")
}

// readOnce streams one 64 MiB read and checks it: every byte served and,
// for the guest, qword 0 of every page is its pattern index.
func (g *benchGuest) readOnce(ctx context.Context, b *testing.B, mem pb.MemoryServiceClient, req *pb.StreamVirtualRequest, check bool) time.Duration {
	began := time.Now()
	stream, err := mem.StreamVirtual(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	var got uint64
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range chunk.GetPages() {
			if !p.GetServed() {
				b.Fatalf("%d bytes at %#x not served: %v", p.GetLength(), p.GetAddress(), p.GetLocation())
			}
		}
		if check {
			data := chunk.GetData()
			for off := 0; off+8 <= len(data); off += 4096 {
				i := (chunk.GetAddress() + uint64(off) - g.pattern) / 4096
				if v := binary.LittleEndian.Uint64(data[off:]); v != patMagic|i {
					b.Fatalf("pattern page %d starts %#x, want %#x", i, v, patMagic|i)
				}
			}
		}
		got += uint64(len(chunk.GetData()))
	}
	d := time.Since(began)
	if got != req.GetLength() {
		b.Fatalf("read %d bytes, want %d", got, req.GetLength())
	}
	return d
}

// readUnary reads the same 64 MiB as 64 unary ReadVirtual calls of 1 MiB
// (the unary limit), one after the other: what a client that never
// streams gets.
func (g *benchGuest) readUnary(ctx context.Context, b *testing.B, mem pb.MemoryServiceClient, req *pb.StreamVirtualRequest) time.Duration {
	began := time.Now()
	for off := uint64(0); off < req.GetLength(); off += readChunk {
		rd, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: req.GetVm(), Space: req.GetSpace(), Address: req.GetAddress() + off, Length: readChunk})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range rd.GetPages() {
			if !p.GetServed() {
				b.Fatalf("%d bytes at %#x not served", p.GetLength(), p.GetAddress())
			}
		}
	}
	return time.Since(began)
}
