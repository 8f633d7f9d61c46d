package breakpoints

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestAddressSpaceMatches(t *testing.T) {
	as := AddressSpace{DirectoryTableBase: 0x1ad000 | 0x2, UserDirectoryTableBase: 0x7e000}
	for _, c := range []struct {
		cr3  uint64
		want bool
	}{
		{0x1ad000, true},
		{0x1ad000 | 0x5, true},           // a PCID
		{0x1ad000 | 1<<63 | 0xfff, true}, // no-flush bit and PCID
		{0x7e000 | 0x3, true},            // the user table (KVA shadowing)
		{0x7e000 | 1<<63, true},
		{0x1ae000, false},
		{0, false},
		{0x1ad000 | 1<<62, false}, // only bit 63 is masked
	} {
		if got := as.matches(c.cr3); got != c.want {
			t.Errorf("matches(%#x) = %v, want %v", c.cr3, got, c.want)
		}
	}
	noUser := AddressSpace{DirectoryTableBase: 0x1ad000}
	if noUser.matches(0) {
		t.Error("a process without a user table matched CR3 0")
	}
}

// counter is a handler that counts its calls.
type counter struct{ n atomic.Int64 }

func (c *counter) handle(context.Context, *Frame) error {
	c.n.Add(1)
	return nil
}

func TestUserBreakpointFiltersByCR3(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	const uva = 0x7ff6_1234_0000
	if _, err := m.Add(ctx, Spec{Addr: uva, Handler: (&counter{}).handle}); !errors.Is(err, ErrNoAddressSpace) {
		t.Fatalf("user VA without an address space: %v, want ErrNoAddressSpace", err)
	}
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: uva, AddressSpace: &AddressSpace{DirectoryTableBase: 0x1ad000, UserDirectoryTableBase: 0x7e000}, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	for _, cr3 := range []uint64{0x2000, 0x1ad000 | 7, 0x99000, 0x7e000 | 1<<63} {
		f.settle(f.hit(cpu1, map[string]uint64{"rip": uva, "cr3": cr3}))
	}
	if n := c.n.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2 (the process's two tables, PCIDs masked)", n)
	}
	if _, steps := f.counts(); steps != 4 {
		t.Errorf("%d step-overs, want 4: every stop on the slot is stepped over, wanted or not", steps)
	}
}

// fakeTranslate maps the breakpoint's VA to a different frame per CR3,
// as a DLL mapped at the same VA by two processes but backed by two
// copies would be.
func fakeTranslate(table map[uint64]uint64) TranslateFunc {
	return func(ctx context.Context, cr3, va uint64) (uint64, error) {
		base, ok := table[cr3&cr3Mask]
		if !ok {
			return 0, errors.New("not mapped")
		}
		return base + va%pageSize, nil
	}
}

func TestPhysicalFilter(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	tr := fakeTranslate(map[uint64]uint64{0x1000: 0x50000, 0x2000: 0x50000, 0x3000: 0x60000})
	var c counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Filter: Filter{Physical: &PhysicalFilter{Addr: 0x50000 + kfn%pageSize, Translate: tr}}, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	for _, cr3 := range []uint64{0x1000, 0x2000, 0x3000, 0x4000 /* translation fails */} {
		f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn, "cr3": cr3}))
	}
	if n := c.n.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2 (the two address spaces sharing the frame)", n)
	}
}

type threadIs uint64

func (w threadIs) MatchThread(ctx context.Context, h *Hit) (bool, error) {
	rbx, _ := h.Regs.Uint("rbx") // the fake's "current thread"
	if rbx == 0 {
		return false, errors.New("no KPCR")
	}
	return rbx == uint64(w), nil
}

type processIs uint64

func (w processIs) MatchProcess(ctx context.Context, h *Hit) (bool, error) {
	rsi, _ := h.Regs.Uint("rsi")
	return rsi == uint64(w), nil
}

func TestThreadAndProcessPredicates(t *testing.T) {
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{})
	ctx := testCtx(t)
	var both, thread counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Filter: Filter{Thread: threadIs(0xa0), Process: processIs(0xe0)}, Handler: both.handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn, Filter: Filter{Thread: threadIs(0xa0)}, Handler: thread.handle}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []map[string]uint64{
		{"rbx": 0xa0, "rsi": 0xe0}, // both
		{"rbx": 0xa0, "rsi": 0xe1}, // thread only
		{"rbx": 0xa1, "rsi": 0xe0}, // neither
		{"rbx": 0, "rsi": 0xe0},    // the predicate fails: no match
	} {
		v["rip"] = kfn
		f.settle(f.hit(cpu1, v))
	}
	if n := both.n.Load(); n != 1 {
		t.Errorf("thread+process observer ran %d times, want 1", n)
	}
	if n := thread.n.Load(); n != 2 {
		t.Errorf("thread observer ran %d times, want 2", n)
	}
}

// stuck is a predicate that ignores its deadline.
type stuck struct{ release chan struct{} }

func (s stuck) MatchThread(ctx context.Context, h *Hit) (bool, error) {
	<-s.release
	return true, nil
}

func (s stuck) CurrentThread(ctx context.Context, h *Hit) (uint64, error) {
	<-s.release
	return 1, nil
}

// TestStuckPredicate: a predicate or thread resolver that never returns
// costs a hit its observer, not the guest its freedom.
func TestStuckPredicate(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	defer close(s.release)
	f := newFake(t, tcgCaps())
	m := newManager(t, f, Options{FilterTimeout: 20 * time.Millisecond, Threads: s})
	ctx := testCtx(t)
	var c, other counter
	if _, err := m.Add(ctx, Spec{Addr: kfn, Filter: Filter{Thread: s}, Handler: c.handle}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Add(ctx, Spec{Addr: kfn, Handler: other.handle}); err != nil {
		t.Fatal(err)
	}
	f.settle(f.hit(cpu1, map[string]uint64{"rip": kfn}))
	if c.n.Load() != 0 || other.n.Load() != 1 {
		t.Errorf("handlers ran %d and %d times, want 0 (stuck filter) and 1", c.n.Load(), other.n.Load())
	}
}
