package api

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// afterlife is a guest whose RAM stays readable after its QEMU exits, as
// a file-backed memory does.
type afterlife struct{ *vmitest.Target }

func (a afterlife) ReadPhysical(_ context.Context, gpa uint64, p []byte) error {
	b, err := a.Peek(gpa, len(p))
	copy(p, b)
	return err
}

// Issue 19: after QEMU died, reads returned its last RAM as OK and the VM
// stayed "attached". A gone guest's reads fail with "guest is gone"
// unless they ask for post-mortem bytes, which come flagged; other calls
// say it is gone too; Detach forgets it.
func TestGoneGuest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := vmitest.New(vmitest.Config{Name: "dead", RAM: 1 << 20, Running: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Poke(0x1000, []byte("last words")); err != nil {
		t.Fatal(err)
	}
	c := testConfig(&Config{})
	vm := addVM(t, c, "dead", afterlife{tg})
	mem, cpu, vms := &memoryService{c: c}, &cpuService{c: c}, &vmService{c: c}
	req := &pb.ReadPhysicalRequest{Vm: "dead", Address: 0x1000, Length: 10}
	if r, err := mem.ReadPhysical(ctx, req); err != nil || r.GetPostMortem() {
		t.Fatalf("a live read: %v, post-mortem %v", err, r.GetPostMortem())
	}

	tg.Gone(errors.New("QEMU exited (killed)"))
	for vm.Gone() == nil {
		select {
		case <-ctx.Done():
			t.Fatal("the session never saw the guest go")
		case <-time.After(5 * time.Millisecond):
		}
	}
	wantGone := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "guest is gone (QEMU exited)") {
			t.Errorf("%s of a gone guest: %v, want FailedPrecondition \"guest is gone\"", what, err)
		}
	}
	_, err = mem.ReadPhysical(ctx, req)
	wantGone("ReadPhysical", err)
	_, err = cpu.Pause(ctx, &pb.PauseRequest{Vm: "dead"})
	wantGone("Pause", err)

	req.PostMortem = true
	r, err := mem.ReadPhysical(ctx, req)
	if err != nil || !r.GetPostMortem() || !bytes.Equal(r.GetData(), []byte("last words")) {
		t.Errorf("a post-mortem read: %q, flagged %v, %v", r.GetData(), r.GetPostMortem(), err)
	}

	if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: "dead"}); err != nil {
		t.Errorf("detaching a gone guest: %v", err)
	}
	if c.Registry.Lookup("dead") != nil {
		t.Error("the gone guest is still registered after Detach")
	}
}
