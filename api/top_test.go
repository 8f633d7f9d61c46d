package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/frostvmi/frost/nt"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/symbols/isf"
	"github.com/frostvmi/frost/translate"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/physmem"
)

// Issue 12 item 7: the top of the address space, through the API on a
// fake guest. A range may end at 2^64; one that would go past it is
// InvalidArgument, and nothing wraps to address 0.

const (
	lastPage = ^uint64(0) &^ 0xfff // 0xfffffffffffff000
	topDTB   = 0x1000
	topPA    = 0x20000 // the frame behind the last virtual page
	zeroPA   = 0x21000 // the frame behind VA 0
)

// pageTarget is a stopped guest whose physical memory is a set of pages;
// any other address is not RAM. Only what the memory calls use is
// implemented.
type pageTarget struct {
	fakeBase
	mu    sync.Mutex
	pages map[uint64][]byte
}

func (*pageTarget) Name() string { return "top" }

func (*pageTarget) Running() (bool, *vmi.Stop) { return false, &vmi.Stop{Seq: 1} }

func (g *pageTarget) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	return g.each(gpa, len(p), func(page []byte, off int, i int, n int) { copy(p[i:i+n], page[off:off+n]) })
}

func (g *pageTarget) WritePhysical(_ context.Context, gpa uint64, p []byte) error {
	return g.each(gpa, len(p), func(page []byte, off int, i int, n int) { copy(page[off:off+n], p[i:i+n]) })
}

// each calls f for each page-sized piece of [gpa, gpa+n), after checking
// every page is RAM.
func (g *pageTarget) each(gpa uint64, n int, f func(page []byte, off, i, n int)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := 0; i < n; {
		a := gpa + uint64(i)
		if i > 0 && a == 0 {
			return &physmem.NotRAMError{GPA: a, What: "wraps past 2^64"}
		}
		page, ok := g.pages[a&^0xfff]
		if !ok {
			return &physmem.NotRAMError{GPA: a, What: "no page here"}
		}
		off := int(a & 0xfff)
		k := min(4096-off, n-i)
		f(page, off, i, k)
		i += k
	}
	return nil
}

// topServer serves the API over a guest whose last virtual page (of
// topDTB) and VA 0 are mapped to frames of 0xee and 0x11 bytes, so a read
// that wrapped would show; the last physical page is RAM as well, of
// 0x77 bytes. Writes are allowed.
func topServer(t *testing.T) (pb.MemoryServiceClient, *pageTarget) {
	t.Helper()
	layout, err := realLayout()
	if err != nil {
		if os.Getenv("FROST_REQUIRE_INTEGRATION") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	g := &pageTarget{pages: map[uint64][]byte{}}
	page := func(pa uint64, fill byte) []byte {
		g.pages[pa] = bytes.Repeat([]byte{fill}, 4096)
		return g.pages[pa]
	}
	// Hardware entries, with bit positions from the kernel's own layout.
	entry := func(pa uint64) []byte {
		v := layout.Valid.Mask() | 0x2 | (pa>>12)<<layout.PageFrameNumber.Pos
		b := make([]byte, 8)
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	tables := func(va, pml4, pdpt, pd, pt, frame uint64) {
		for _, lv := range []struct {
			table, shift, next uint64
		}{{pml4, 39, pdpt}, {pdpt, 30, pd}, {pd, 21, pt}, {pt, 12, frame}} {
			if g.pages[lv.table] == nil {
				page(lv.table, 0)
			}
			copy(g.pages[lv.table][(va>>lv.shift)&511*8:], entry(lv.next))
		}
	}
	page(topPA, 0xee)
	page(zeroPA, 0x11)
	page(lastPage, 0x77)
	tables(lastPage, topDTB, 0x2000, 0x3000, 0x4000, topPA)
	tables(0, topDTB, 0x5000, 0x6000, 0x7000, zeroPA)

	tr, err := translate.New(translate.Config{Layout: layout, Physical: vmi.ReaderAt(g)})
	if err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	vm := addVM(t, c, "top", g)
	vm.UseKernel(&nt.Opened{Translator: tr})
	reg := c.Registry
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	Register(srv, Config{Registry: reg, AllowWrite: true})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("passthrough:///top",
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return lis.Dial() }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewMemoryServiceClient(cc), g
}

// realLayout is the PTE layout of the real Windows 10 ISF beside the
// checkout (../shared/testdata/isf, read in place), read once.
var realLayout = sync.OnceValues(func() (*translate.Layout, error) {
	tab, err := isf.Open(filepath.Join("..", "..", "shared", "testdata", "isf", "606FF669409B00F7FC8C61A9C1670129-1.json.xz"))
	if err != nil {
		return nil, fmt.Errorf("the real Windows ISF is not beside the checkout: %w", err)
	}
	return nt.NewLayout(tab)
})

var topSpace = &pb.AddressSpace{Space: &pb.AddressSpace_Dtb{Dtb: topDTB}}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("%s: %v, want InvalidArgument", what, err)
	}
}

func TestReadVirtualAtTheTop(t *testing.T) {
	mem, _ := topServer(t)
	ctx := context.Background()
	r, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "top", Space: topSpace, Address: ^uint64(0) - 15, Length: 16})
	if err != nil {
		t.Fatalf("ReadVirtual of the last 16 bytes: %v", err)
	}
	if !bytes.Equal(r.GetData(), bytes.Repeat([]byte{0xee}, 16)) || len(r.GetPages()) != 1 || !r.GetPages()[0].GetServed() {
		t.Errorf("ReadVirtual of the last 16 bytes: % x, %v", r.GetData(), r.GetPages())
	}
	r, err = mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "top", Space: topSpace, Address: lastPage, Length: 4096, Provenance: true})
	if err != nil || len(r.GetPages()) != 1 || r.GetPages()[0].GetProvenance() == nil {
		t.Errorf("ReadVirtual of the last page with provenance: %v, %v", r.GetPages(), err)
	}
	for _, l := range []uint64{17, 4097, 1 << 20} {
		_, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: "top", Space: topSpace, Address: ^uint64(0) - 15, Length: l})
		wantInvalid(t, "ReadVirtual past 2^64", err)
	}
}

func TestStreamVirtualAtTheTop(t *testing.T) {
	mem, _ := topServer(t)
	ctx := context.Background()
	s, err := mem.StreamVirtual(ctx, &pb.StreamVirtualRequest{Vm: "top", Space: topSpace, Address: lastPage - 4096, Length: 8192, ChunkSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	var addrs []uint64
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("StreamVirtual up to 2^64: %v", err)
		}
		got = append(got, c.GetData()...)
		addrs = append(addrs, c.GetAddress())
	}
	if len(addrs) != 2 || addrs[1] != lastPage || !bytes.Equal(got[4096:], bytes.Repeat([]byte{0xee}, 4096)) {
		t.Errorf("StreamVirtual up to 2^64: chunks at %#x", addrs)
	}
	s, err = mem.StreamVirtual(ctx, &pb.StreamVirtualRequest{Vm: "top", Space: topSpace, Address: lastPage, Length: 8192})
	if err == nil {
		_, err = s.Recv()
	}
	wantInvalid(t, "StreamVirtual past 2^64", err)
}

func TestVadMapAtTheTop(t *testing.T) {
	mem, _ := topServer(t)
	ctx := context.Background()
	for _, end := range []uint64{0, ^uint64(0)} {
		r, err := mem.VadMap(ctx, &pb.VadMapRequest{Vm: "top", Space: topSpace, Start: lastPage - 4096, End: end})
		if err != nil {
			t.Errorf("VadMap up to %#x: %v", end, err)
			continue
		}
		runs := r.GetRuns()
		if n := len(runs); n != 2 || runs[1].GetStart() != lastPage || runs[1].GetEnd() != 0 ||
			runs[1].GetLocation().GetState() != pb.PageState_PAGE_STATE_VALID {
			t.Errorf("VadMap up to %#x: runs %v, want the valid last page as a run ending at 0 (2^64)", end, runs)
		}
	}
	_, err := mem.VadMap(ctx, &pb.VadMapRequest{Vm: "top", Space: topSpace, Start: lastPage, End: lastPage})
	wantInvalid(t, "VadMap of an empty range", err)
	_, err = mem.VadMap(ctx, &pb.VadMapRequest{Vm: "top", Space: topSpace, Start: 0, End: 0})
	wantInvalid(t, "VadMap of all 2^64 bytes", err)
}

func TestTranslateAtTheTop(t *testing.T) {
	mem, _ := topServer(t)
	r, err := mem.Translate(context.Background(), &pb.TranslateRequest{Vm: "top", Space: topSpace, Address: ^uint64(0)})
	if err != nil {
		t.Fatal(err)
	}
	if loc := r.GetProvenance().GetLocation(); loc.GetState() != pb.PageState_PAGE_STATE_VALID || loc.GetAddress() != topPA+0xfff {
		t.Errorf("Translate of the last byte: %v, want valid at %#x", loc, topPA+0xfff)
	}
}

func TestWriteVirtualAtTheTop(t *testing.T) {
	mem, g := topServer(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte{0x5a}, 16)
	if _, err := mem.WriteVirtual(ctx, &pb.WriteVirtualRequest{Vm: "top", Space: topSpace, Address: ^uint64(0) - 15, Data: data}); err != nil {
		t.Fatalf("WriteVirtual of the last 16 bytes: %v", err)
	}
	if !bytes.Equal(g.pages[topPA][4096-16:], data) || g.pages[zeroPA][0] != 0x11 {
		t.Errorf("WriteVirtual of the last 16 bytes did not land at the top frame's end alone")
	}
	_, err := mem.WriteVirtual(ctx, &pb.WriteVirtualRequest{Vm: "top", Space: topSpace, Address: ^uint64(0) - 15, Data: make([]byte, 32)})
	wantInvalid(t, "WriteVirtual past 2^64", err)
	if g.pages[zeroPA][0] != 0x11 {
		t.Error("a refused WriteVirtual wrapped to VA 0")
	}
}

func TestPhysicalAtTheTop(t *testing.T) {
	mem, g := topServer(t)
	ctx := context.Background()
	r, err := mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: "top", Address: ^uint64(0) - 15, Length: 16})
	if err != nil || !bytes.Equal(r.GetData(), bytes.Repeat([]byte{0x77}, 16)) {
		t.Errorf("ReadPhysical of the last 16 bytes: %v, % x", err, r.GetData())
	}
	_, err = mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: "top", Address: ^uint64(0) - 15, Length: 32})
	wantInvalid(t, "ReadPhysical past 2^64", err)

	s, err := mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: "top", Address: lastPage, Length: 4096, ChunkSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		c, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("StreamPhysical of the last page: %v", err)
		}
		n += len(c.GetData())
	}
	if n != 4096 {
		t.Errorf("StreamPhysical of the last page: %d bytes", n)
	}
	s, err = mem.StreamPhysical(ctx, &pb.StreamPhysicalRequest{Vm: "top", Address: lastPage, Length: 8192})
	if err == nil {
		_, err = s.Recv()
	}
	wantInvalid(t, "StreamPhysical past 2^64", err)

	if _, err := mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: "top", Address: ^uint64(0) - 15, Data: make([]byte, 16)}); err != nil {
		t.Errorf("WritePhysical of the last 16 bytes: %v", err)
	}
	_, err = mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: "top", Address: ^uint64(0) - 15, Data: make([]byte, 17)})
	wantInvalid(t, "WritePhysical past 2^64", err)
	if g.pages[0] != nil {
		t.Error("a physical write wrapped to address 0")
	}
}

func TestCheckRange(t *testing.T) {
	for _, tc := range []struct {
		addr, n uint64
		ok      bool
	}{
		{0, 1, true},
		{0, ^uint64(0), true},
		{^uint64(0), 1, true},
		{^uint64(0), 2, false},
		{^uint64(0) - 15, 16, true},
		{^uint64(0) - 15, 17, false},
		{1, ^uint64(0), true},
		{2, ^uint64(0), false},
		{0x1000, 0, false},
	} {
		if err := checkRange(tc.addr, tc.n); (err == nil) != tc.ok {
			t.Errorf("checkRange(%#x, %#x) = %v, want ok %v", tc.addr, tc.n, err, tc.ok)
		}
	}
}
