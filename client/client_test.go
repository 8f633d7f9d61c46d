package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// A tiny guest for the client's unit tests: 1 MiB of RAM at GPA 0 and the
// hole above it; page tables at 0x1000-0x4000 map VA 0x400000 to frame
// 0x10000 (present), and leave VA 0x401000 with a non-present entry that
// only the OS can read (Windows' transition PTE, say), which frostd
// serves as 'T' bytes.
const (
	fakeRAM     = 1 << 20
	fakeDTB     = 0x1000
	fakeVA      = 0x400000
	fakeFrame   = 0x10000
	fakeTransVA = 0x401000
	fakePID     = 42
)

func fakeImage() []byte {
	img := make([]byte, fakeRAM)
	for i := range img {
		img[i] = byte(i * 7)
	}
	put := func(pa, v uint64) { binary.LittleEndian.PutUint64(img[pa:], v) }
	clear(img[0x1000:0x5000])
	put(0x1000+8*0, 0x2000|3)           // PML4[0]
	put(0x2000+8*0, 0x3000|3)           // PDPT[0]
	put(0x3000+8*2, 0x4000|3)           // PD[2]: 0x400000
	put(0x4000+8*0, fakeFrame|3)        // PT[0]: present
	put(0x4000+8*1, 0x0000000012345c00) // PT[1]: not present, OS bits
	return img
}

// fakeFrostd is frostd's MemoryService over the image, counting calls.
type fakeFrostd struct {
	pb.UnimplementedMemoryServiceServer
	img []byte
	mu  sync.Mutex
	phy []*pb.ReadPhysicalRequest
	vir []*pb.ReadVirtualRequest
}

func (f *fakeFrostd) ReadPhysical(_ context.Context, req *pb.ReadPhysicalRequest) (*pb.ReadPhysicalResponse, error) {
	f.mu.Lock()
	f.phy = append(f.phy, req)
	f.mu.Unlock()
	data := make([]byte, req.GetLength())
	a, n := req.GetAddress(), req.GetLength()
	if a >= fakeRAM {
		return &pb.ReadPhysicalResponse{Data: data, Pages: []*pb.PageStatus{{Address: a, Length: n, Reason: "not RAM"}}}, nil
	}
	served := min(n, fakeRAM-a)
	copy(data, f.img[a:a+served])
	pages := []*pb.PageStatus{{Address: a, Length: served, Served: true}}
	if served < n {
		pages = append(pages, &pb.PageStatus{Address: a + served, Offset: served, Length: n - served, Reason: "not RAM"})
	}
	return &pb.ReadPhysicalResponse{Data: data, Pages: pages}, nil
}

func (f *fakeFrostd) ReadVirtual(_ context.Context, req *pb.ReadVirtualRequest) (*pb.ReadVirtualResponse, error) {
	f.mu.Lock()
	f.vir = append(f.vir, req)
	f.mu.Unlock()
	data := make([]byte, req.GetLength())
	for i := range data {
		va := req.GetAddress() + uint64(i)
		switch va &^ 0xfff {
		case fakeVA:
			data[i] = f.img[fakeFrame+va&0xfff]
		case fakeTransVA:
			data[i] = 'T'
		}
	}
	return &pb.ReadVirtualResponse{Data: data, Dtb: fakeDTB,
		Pages: []*pb.PageStatus{{Address: req.GetAddress(), Length: req.GetLength(), Served: true}}}, nil
}

func (f *fakeFrostd) calls() (phy, vir int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.phy), len(f.vir)
}

// startFake serves the fake frostd on dir/frostd.sock and, when share is
// not "", a side socket handing out the image as a file (share "refuse":
// a refusal).
func startFake(t testing.TB, share string) (sock string, f *fakeFrostd) {
	t.Helper()
	dir := t.TempDir()
	f = &fakeFrostd{img: fakeImage()}
	sock = filepath.Join(dir, "frostd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterMemoryServiceServer(srv, f)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	if share == "" {
		return sock, f
	}
	ramPath := filepath.Join(dir, "ram")
	if err := os.WriteFile(ramPath, f.img, 0o600); err != nil {
		t.Fatal(err)
	}
	side, err := net.Listen("unix", LocalMemorySocket(sock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { side.Close() })
	go func() {
		for {
			c, err := side.Accept()
			if err != nil {
				return
			}
			serveSide(c.(*net.UnixConn), ramPath, share)
		}
	}()
	return sock, f
}

func serveSide(c *net.UnixConn, ramPath, share string) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadBytes('\n')
	var req sideRequest
	if err != nil || json.Unmarshal(line, &req) != nil || req.Version != 1 {
		return
	}
	if share == "refuse" {
		b, _ := json.Marshal(sideReply{Version: 1, Code: "not_shareable", Error: "RAM is QEMU's private memory"})
		c.Write(append(b, '\n'))
		return
	}
	rf, err := os.Open(ramPath)
	if err != nil {
		return
	}
	defer rf.Close()
	b, _ := json.Marshal(sideReply{Version: 1, VM: req.VM, Kind: "shared RAM file", Size: fakeRAM,
		Ranges: []sideRange{{GPA: 0, Size: fakeRAM, Offset: 0}}})
	c.WriteMsgUnix(append(b, '\n'), syscall.UnixRights(int(rf.Fd())), nil)
}

// TestLocalReadsUseTheMappingAndFallBack: with the side socket, physical
// reads in RAM and present virtual pages are served from the mapping
// without a gRPC call; the first virtual read learns the DTB from frostd;
// a non-present page and a hole go to frostd, and the bytes are frostd's.
func TestLocalReadsUseTheMappingAndFallBack(t *testing.T) {
	sock, f := startFake(t, "share")
	ctx := context.Background()
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.LocalMemory(ctx, "vm"); err != nil {
		t.Fatalf("LocalMemory: %v", err)
	}

	buf := make([]byte, 4096)
	if err := c.ReadPhysical(ctx, "vm", 0x20000, buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, f.img[0x20000:0x21000]) {
		t.Error("ReadPhysical: wrong bytes from the mapping")
	}
	if p, _ := f.calls(); p != 0 {
		t.Errorf("a physical read in RAM made %d gRPC calls", p)
	}
	// Straddling the end of RAM: frostd's answer, the hole unserved.
	var pe *PartialError
	err = c.ReadPhysical(ctx, "vm", fakeRAM-2048, buf)
	if !errors.As(err, &pe) || len(pe.Pages) != 1 || pe.Pages[0].GetOffset() != 2048 {
		t.Errorf("read across the end of RAM: %v", err)
	}
	if p, _ := f.calls(); p != 1 {
		t.Errorf("the read across the hole made %d gRPC calls, want 1", p)
	}

	two := make([]byte, 8192)
	want := append(append([]byte(nil), f.img[fakeFrame:fakeFrame+4096]...), bytes.Repeat([]byte{'T'}, 4096)...)
	// First: the DTB is unknown, so the whole read is frostd's.
	if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, two); err != nil || !bytes.Equal(two, want) {
		t.Fatalf("first ReadVirtual: %v (bytes equal %v)", err, bytes.Equal(two, want))
	}
	if _, v := f.calls(); v != 1 {
		t.Fatalf("first ReadVirtual made %d calls, want 1", v)
	}
	// Second: the present page from the mapping, only the other from frostd.
	clear(two)
	if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, two); err != nil || !bytes.Equal(two, want) {
		t.Fatalf("second ReadVirtual: %v (bytes equal %v)", err, bytes.Equal(two, want))
	}
	f.mu.Lock()
	last := f.vir[len(f.vir)-1]
	n := len(f.vir)
	f.mu.Unlock()
	if n != 2 || last.GetAddress() != fakeTransVA || last.GetLength() != 4096 || last.GetSpace().GetPid() != fakePID {
		t.Errorf("the fallback asked %d times, last %v; want once more, for the non-present page only", n, last)
	}
	// A present page alone needs no call at all.
	if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA+16, buf[:100]); err != nil || !bytes.Equal(buf[:100], f.img[fakeFrame+16:fakeFrame+116]) {
		t.Errorf("present page: %v", err)
	}
	if _, v := f.calls(); v != 2 {
		t.Errorf("a present page made a gRPC call")
	}
}

// TestRefusedOrRemoteReadsGoOverGRPC: a side socket that refuses, no side
// socket, WithoutLocalMemory and a TCP address all read through frostd.
func TestRefusedOrRemoteReadsGoOverGRPC(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		share string
		opts  []Option
		why   func(error) bool
	}{
		{"refused", "refuse", nil, func(err error) bool { var r *RefusedError; return errors.As(err, &r) && r.Code == "not_shareable" }},
		{"no side socket", "", nil, func(err error) bool { return err != nil && !errors.Is(err, ErrRemote) }},
		{"without local memory", "share", []Option{WithoutLocalMemory()}, func(err error) bool { return errors.Is(err, ErrRemote) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, f := startFake(t, tc.share)
			c, err := Dial(ctx, sock, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.LocalMemory(ctx, "vm"); !tc.why(err) {
				t.Errorf("LocalMemory: %v", err)
			}
			buf := make([]byte, 4096)
			if err := c.ReadPhysical(ctx, "vm", 0x20000, buf); err != nil || !bytes.Equal(buf, f.img[0x20000:0x21000]) {
				t.Errorf("ReadPhysical: %v", err)
			}
			for range 2 {
				if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil || !bytes.Equal(buf, f.img[fakeFrame:fakeFrame+4096]) {
					t.Errorf("ReadVirtual: %v", err)
				}
			}
			if p, v := f.calls(); p != 1 || v != 2 {
				t.Errorf("gRPC calls: %d physical, %d virtual; want every read", p, v)
			}
		})
	}
}

// A TCP client never asks for guest RAM: it has no side socket at all,
// even when one exists beside a socket of the same name.
func TestTCPClientIsRemote(t *testing.T) {
	ctx := context.Background()
	if _, err := Dial(ctx, "tcp:127.0.0.1:1"); err == nil {
		t.Error("a tcp: address without TLS was accepted")
	}
	c, err := Dial(ctx, "tcp:127.0.0.1:1", WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.memSock != "" {
		t.Errorf("a TCP client has a side socket %q", c.memSock)
	}
	if err := c.LocalMemory(ctx, "vm"); !errors.Is(err, ErrRemote) {
		t.Errorf("LocalMemory over TCP: %v, want ErrRemote", err)
	}
}

// TestConcurrentReadsAcrossRechecks: readers on several goroutines while
// the mapping is rechecked with frostd all the time (the same file: the
// mapping is kept) get frostd's bytes, and the race detector sees no
// race between a recheck and the readers.
func TestConcurrentReadsAcrossRechecks(t *testing.T) {
	sock, f := startFake(t, "share")
	ctx := context.Background()
	c, err := Dial(ctx, sock, WithMapRecheck(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := range 200 {
				if err := c.ReadPhysical(ctx, "vm", 0x20000, buf); err != nil || !bytes.Equal(buf, f.img[0x20000:0x21000]) {
					t.Errorf("goroutine %d read %d: %v", g, i, err)
					return
				}
				if err := c.ReadVirtual(ctx, "vm", fakePID, fakeVA, buf); err != nil || !bytes.Equal(buf, f.img[fakeFrame:fakeFrame+4096]) {
					t.Errorf("goroutine %d virtual read %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
