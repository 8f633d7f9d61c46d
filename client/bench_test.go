package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// BenchmarkLocalRead puts a 4 KiB ReadVirtual through the client's local
// path (side socket mapping, processor walk of four levels, copy) beside
// a raw copy of the same frame out of a mapping of the same file, and a
// 4 KiB ReadPhysical from the mapping, with no guest and no gRPC call in
// the timed loops: the client's own overhead over the floor.
//
//	go test -run '^$' -bench LocalRead -count 3 ./client/
func BenchmarkLocalRead(b *testing.B) {
	sock, f := startFake(b, "share")
	ctx := context.Background()
	c, err := Dial(ctx, sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil { // learns the DTB
		b.Fatal(err)
	}
	b.Run("virtual", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("physical", func(b *testing.B) {
		b.SetBytes(4096)
		for b.Loop() {
			if err := c.ReadPhysical(ctx, "vm", fakeFrame, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		rf, err := os.Open(filepath.Join(filepath.Dir(sock), "ram"))
		if err != nil {
			b.Fatal(err)
		}
		data, err := syscall.Mmap(int(rf.Fd()), 0, fakeRAM, syscall.PROT_READ, syscall.MAP_SHARED)
		rf.Close()
		if err != nil {
			b.Fatal(err)
		}
		defer syscall.Munmap(data)
		b.SetBytes(4096)
		for b.Loop() {
			copy(buf, data[fakeFrame:fakeFrame+4096])
		}
	})
	// The DTB is asked again once a second (DefaultDTBMaxAge): a few
	// virtual calls in a run of seconds, nothing per read.
	if p, _ := f.calls(); p != 0 {
		b.Errorf("the timed physical reads asked frostd %d times", p)
	}
}

// BenchmarkLocalReadCold is BenchmarkLocalRead over 48K distinct pages
// (192 MiB, far beyond the caches) read in random order: the case of
// random reads of a guest's RAM, where each 4 KiB copy comes from memory,
// beside a raw copy of the same frames in the same order.
//
//	go test -run '^$' -bench LocalReadCold -count 3 ./client/
func BenchmarkLocalReadCold(b *testing.B) {
	const (
		pages  = 48 << 10
		frames = 16 << 20 // frame of page 0
		tables = 0x100000 // the page tables, one per 2 MiB of VA
		va0    = 0x40000000
		size   = frames + pages*4096
	)
	img := make([]byte, size)
	put := func(pa, v uint64) { binary.LittleEndian.PutUint64(img[pa:], v) }
	put(0x1000, 0x2000|3)   // PML4[0]
	put(0x2000+8, 0x3000|3) // PDPT[1]: 1 GiB
	for t := uint64(0); t < pages/512; t++ {
		put(0x3000+8*t, (tables+t*4096)|3)
		for i := uint64(0); i < 512; i++ {
			put(tables+t*4096+8*i, (frames+(t*512+i)*4096)|3)
		}
	}
	for p := uint64(0); p < pages; p++ {
		put(frames+p*4096, p) // each page says which it is
	}
	dir := b.TempDir()
	ramPath := filepath.Join(dir, "ram")
	if err := os.WriteFile(ramPath, img, 0o600); err != nil {
		b.Fatal(err)
	}
	img = nil
	sock := filepath.Join(dir, "frostd.sock")
	side, err := net.Listen("unix", LocalMemorySocket(sock))
	if err != nil {
		b.Fatal(err)
	}
	defer side.Close()
	go func() {
		for {
			c, err := side.Accept()
			if err != nil {
				return
			}
			serveSideSized(c.(*net.UnixConn), ramPath, size)
		}
	}()
	f := &fakeFrostd{img: make([]byte, fakeRAM)}
	l, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterMemoryServiceServer(srv, &dtbFrostd{fakeFrostd: f, dtb: 0x1000})
	go srv.Serve(l)
	defer srv.Stop()

	ctx := context.Background()
	// The stand-in frostd answers reads with zeros: the DTB must not be
	// asked again (and the read served by it) during the run.
	c, err := Dial(ctx, sock, WithDTBMaxAge(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	if err := c.ReadVirtual(ctx, "vm", fakePID, va0, buf); err != nil {
		b.Fatal(err)
	}
	rf, err := os.Open(ramPath)
	if err != nil {
		b.Fatal(err)
	}
	data, err := syscall.Mmap(int(rf.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	rf.Close()
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(data)
	order := rand.New(rand.NewPCG(1, 2)).Perm(pages)
	// Touch every page once through both mappings, so neither pays the
	// first-touch fault in the timed loops.
	for _, p := range order {
		if err := c.ReadVirtual(ctx, "vm", fakePID, va0+uint64(p)*4096, buf); err != nil {
			b.Fatal(err)
		}
		copy(buf, data[frames+p*4096:])
	}
	b.Run("virtual", func(b *testing.B) {
		b.SetBytes(4096)
		i := 0
		for b.Loop() {
			p := order[i%pages]
			i++
			if err := c.ReadVirtual(ctx, "vm", fakePID, va0+uint64(p)*4096, buf); err != nil {
				b.Fatal(err)
			}
			if binary.LittleEndian.Uint64(buf) != uint64(p) {
				b.Fatalf("page %d: wrong bytes", p)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(4096)
		i := 0
		for b.Loop() {
			p := order[i%pages]
			i++
			copy(buf, data[frames+p*4096:frames+p*4096+4096])
			if binary.LittleEndian.Uint64(buf) != uint64(p) {
				b.Fatalf("page %d: wrong bytes", p)
			}
		}
	})
}

// dtbFrostd answers ReadVirtual with a DTB only, for a benchmark whose
// reads are all local after the first.
type dtbFrostd struct {
	*fakeFrostd
	dtb uint64
}

func (f *dtbFrostd) ReadVirtual(_ context.Context, req *pb.ReadVirtualRequest) (*pb.ReadVirtualResponse, error) {
	return &pb.ReadVirtualResponse{Data: make([]byte, req.GetLength()), Dtb: f.dtb,
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}}, nil
}

func serveSideSized(c *net.UnixConn, ramPath string, size uint64) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	var req sideRequest
	if err != nil || json.Unmarshal(line, &req) != nil {
		return
	}
	rf, err := os.Open(ramPath)
	if err != nil {
		return
	}
	defer rf.Close()
	rep, _ := json.Marshal(sideReply{Version: 1, VM: req.VM, Kind: "shared RAM file", Size: size,
		Ranges: []sideRange{{GPA: 0, Size: size, Offset: 0}}})
	c.WriteMsgUnix(append(rep, '\n'), syscall.UnixRights(int(rf.Fd())), nil)
}
