package api

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/physmem"
)

// bareTarget is a Target that cannot say where RAM is; only its name is
// ever called here.
type bareTarget struct{ fakeBase }

func (bareTarget) Name() string { return "bare" }

// mappedTarget adds a map with a hole, as a PC's below 1 MiB and 4 GiB.
type mappedTarget struct{ bareTarget }

func (mappedTarget) PhysicalMap() []physmem.Range {
	return []physmem.Range{
		{GPA: 0, Size: 0xa0000},
		{GPA: 0x100000, Size: 0x7f00000, Offset: 0x100000},
		{GPA: 0x100000000, Size: 0x10000000, Offset: 0x8000000},
	}
}

func TestGetPhysicalMap(t *testing.T) {
	c := testConfig(&Config{})
	addVM(t, c, "mapped", mappedTarget{})
	addVM(t, c, "bare", bareTarget{})
	s := &memoryService{c: c}
	ctx := context.Background()

	got, err := s.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: "mapped"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint64{{0, 0xa0000}, {0x100000, 0x8000000}, {0x100000000, 0x110000000}}
	if len(got.GetRanges()) != len(want) {
		t.Fatalf("ranges %v, want %x", got.GetRanges(), want)
	}
	for i, r := range got.GetRanges() {
		if r.GetStart() != want[i][0] || r.GetEnd() != want[i][1] {
			t.Errorf("range %d = [%#x, %#x), want [%#x, %#x)", i, r.GetStart(), r.GetEnd(), want[i][0], want[i][1])
		}
	}

	_, err = s.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: "bare"})
	if c := status.Code(err); c != codes.Unimplemented {
		t.Errorf("a target without a map: %v, want Unimplemented", err)
	}
	_, err = s.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: "nope"})
	if c := status.Code(err); c != codes.FailedPrecondition && c != codes.NotFound {
		t.Errorf("an unknown VM: %v", err)
	}
}

// rereadTarget's map is the one at reset until it is re-read: then the
// firmware's BIOS shadow is RAM too, in pieces that touch.
type rereadTarget struct {
	bareTarget
	reread bool
	err    error
}

func (t *rereadTarget) PhysicalMap() []physmem.Range {
	if !t.reread {
		return []physmem.Range{{GPA: 0, Size: 0xa0000}, {GPA: 0x100000, Size: 0x7f00000, Offset: 0x100000}}
	}
	return []physmem.Range{
		{GPA: 0, Size: 0xa0000},
		{GPA: 0xc0000, Size: 0xa000, Offset: 0xc0000, ReadOnly: true},
		{GPA: 0xca000, Size: 0x8000000 - 0xca000, Offset: 0x2000000}, // apart in the block, adjacent in addresses
	}
}

func (t *rereadTarget) RereadPhysicalMap(context.Context) error {
	if t.err != nil {
		return t.err
	}
	t.reread = true
	return nil
}

// Issue 12 item 6: GetPhysicalMap re-reads the map before it lists it,
// and lists ranges that touch as one.
func TestGetPhysicalMapRereads(t *testing.T) {
	tg := &rereadTarget{}
	c := testConfig(&Config{})
	addVM(t, c, "vm", tg)
	s := &memoryService{c: c}
	got, err := s.GetPhysicalMap(context.Background(), &pb.GetPhysicalMapRequest{Vm: "vm"})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]uint64{{0, 0xa0000}, {0xc0000, 0x8000000}}
	if len(got.GetRanges()) != len(want) {
		t.Fatalf("ranges %v, want %x", got.GetRanges(), want)
	}
	for i, r := range got.GetRanges() {
		if r.GetStart() != want[i][0] || r.GetEnd() != want[i][1] {
			t.Errorf("range %d = [%#x, %#x), want [%#x, %#x)", i, r.GetStart(), r.GetEnd(), want[i][0], want[i][1])
		}
	}

	tg.err = errors.New("monitor gone")
	if _, err := s.GetPhysicalMap(context.Background(), &pb.GetPhysicalMapRequest{Vm: "vm"}); status.Code(err) == codes.OK {
		t.Error("a map that could not be re-read was listed")
	}
}

func TestPhysicalRangesAtTheTop(t *testing.T) {
	top := ^uint64(0) - 0xfff
	got := physicalRanges([]physmem.Range{{GPA: top - 0x1000, Size: 0x1000}, {GPA: top, Size: 0x1000, Offset: 0x1000}})
	if len(got) != 1 || got[0].GetStart() != top-0x1000 || got[0].GetEnd() != 0 {
		t.Errorf("ranges up to 2^64: %v, want one ending at 0 (2^64)", got)
	}
}
