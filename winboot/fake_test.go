package winboot

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The unit tests boot a fake Windows: vmitest's Target holding nttest's
// kernel (the real Windows 10 layouts), driven hit by hit, so the paths a
// real boot reaches only by luck (a reset mid-boot, a failing handler, an
// operator's pause) are reached on purpose.

var cpu0 = vmi.CPU{Pid: 1, Tid: 1}

type fakeBoot struct {
	t   *testing.T
	tg  *vmitest.Target
	g   *nttest.Guest
	mgr *breakpoints.Manager

	done chan struct{}
	rep  *Report
	err  error
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newFakeBoot is a guest held before its kernel is found: stopped, its
// vCPU in the kernel with paging on, nothing armed.
func newFakeBoot(t *testing.T) *fakeBoot {
	t.Helper()
	return newFakeBootOn(t, nil)
}

// newFakeBootOn is newFakeBoot under caps (nil: TCG's).
func newFakeBootOn(t *testing.T, caps *vmi.Capabilities) *fakeBoot {
	t.Helper()
	tg, err := vmitest.New(vmitest.Config{Capabilities: caps})
	if err != nil {
		t.Fatal(err)
	}
	g := nttest.NewGuest(t, tg, nttest.RealISF(t))
	if err := tg.SetRegs(cpu0, g.Registers(nttest.KernelBase+0x1000, nttest.StackTop-0x800)); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mgr, err := breakpoints.New(tg, breakpoints.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := mgr.Close(ctx); err != nil {
			t.Errorf("closing the manager: %v", err)
		}
	})
	return &fakeBoot{t: t, tg: tg, g: g, mgr: mgr, done: make(chan struct{})}
}

// run starts winboot.Run.
func (b *fakeBoot) run(ctx context.Context) {
	opt := Options{
		Symbols: &nttest.Loader{Tab: b.g.Tab}, PollInterval: time.Millisecond, WatchInterval: time.Millisecond,
		FindTimeout: 30 * time.Second, FinishTimeout: 45 * time.Second, HandlerTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(testLog{b.t}, nil)),
	}
	go func() {
		defer close(b.done)
		b.rep, b.err = Run(ctx, b.tg, b.mgr, opt)
	}()
}

// wait returns Run's result.
func (b *fakeBoot) wait(ctx context.Context) (*Report, error) {
	b.t.Helper()
	select {
	case <-b.done:
		return b.rep, b.err
	case <-ctx.Done():
		b.t.Fatal("winboot.Run did not return")
	}
	return nil, nil
}

// armed waits until winboot armed n breakpoints and the guest runs.
func (b *fakeBoot) armed(ctx context.Context, n int) {
	b.t.Helper()
	if err := b.tg.Wait(ctx, func(s vmitest.State) bool { return s.Armed == n && s.Running }); err != nil {
		b.t.Fatalf("%v (armed: %v)\n%s", err, b.tg.Armed(), b.calls())
	}
}

// hit stops the guest at rip with vals, and waits until the manager has
// let it run again.
func (b *fakeBoot) hit(ctx context.Context, vals map[string]uint64) *vmi.Stop {
	b.t.Helper()
	if err := b.tg.WaitRunning(ctx); err != nil {
		b.t.Fatal(err)
	}
	resumes := b.tg.Count(vmitest.OpResume)
	stop, err := b.tg.Hit(ctx, cpu0, vals)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.tg.Wait(ctx, func(s vmitest.State) bool { return s.Running && resumed(s) > resumes }); err != nil {
		b.t.Fatalf("the guest was not resumed after the hit at %#x: %v", vals["rip"], err)
	}
	return stop
}

func (b *fakeBoot) winPE() uint32 {
	b.t.Helper()
	p, err := b.tg.Peek(b.g.PA(b.g.Global(varWinPEMode)), 4)
	if err != nil {
		b.t.Fatal(err)
	}
	return binary.LittleEndian.Uint32(p)
}

func (b *fakeBoot) setWinPE(v uint32) {
	var p [4]byte
	binary.LittleEndian.PutUint32(p[:], v)
	b.g.Write(b.g.Global(varWinPEMode), p[:])
}

// pagingFileCall is smss calling NtCreatePagingFile(name, ...), returning
// to ret; it returns the registers at the function's first instruction.
func (b *fakeBoot) pagingFileCall(name string, ret uint64) map[string]uint64 {
	us := b.g.AllocUser(16)
	b.g.Unicode(us, name, b.g.AllocUser)
	regs := b.g.Registers(b.g.Global(fnPagingFile), b.g.Call(ret))
	regs["rcx"] = us
	regs["rax"] = 0xdead
	return regs
}

func (b *fakeBoot) reg(name string) uint64 {
	v, err := b.tg.Regs(cpu0).Uint(name)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// calls formats the target's call log, for failures.
func (b *fakeBoot) calls() string {
	var sb strings.Builder
	for _, c := range b.tg.Calls() {
		fmt.Fprintf(&sb, "%s %v %v %#x err=%v\n", c.Op, c.CPU, c.Breakpoint, c.GPA, c.Err)
	}
	running, stop := b.tg.Running()
	fmt.Fprintf(&sb, "running %v stop %v", running, stop)
	return sb.String()
}

func resumed(s vmitest.State) int {
	n := 0
	for _, c := range s.Calls {
		if c.Op == vmitest.OpResume && c.Err == nil {
			n++
		}
	}
	return n
}
