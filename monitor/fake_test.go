package monitor

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/nt"
	"github.com/frostvmi/frost/nt/nttest"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// The monitor on a fake guest: vmitest's Target holding nttest's kernel
// (the real Windows 10 layouts). Hits are made by the test.

var cpu0 = vmi.CPU{Pid: 1, Tid: 1}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type fakeGuest struct {
	t   *testing.T
	tg  *vmitest.Target
	g   *nttest.Guest
	k   *nt.Kernel
	mgr *breakpoints.Manager
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newFakeGuest is a running guest whose kernel is opened, with a manager.
func newFakeGuest(t *testing.T) *fakeGuest {
	t.Helper()
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g := nttest.NewGuest(t, tg, nttest.RealISF(t))
	if err := tg.SetRegs(cpu0, g.Registers(nttest.KernelBase+0x1000, nttest.StackTop-0x800)); err != nil {
		t.Fatal(err)
	}
	regs := tg.Regs(cpu0)
	k, err := nt.Open(context.Background(), nt.Config{Physical: vmi.ReaderAt(tg), Registers: regs, Symbols: &nttest.Loader{Tab: g.Tab}})
	if err != nil {
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
	if err := tg.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &fakeGuest{t: t, tg: tg, g: g, k: k.Kernel, mgr: mgr}
}

func (f *fakeGuest) watch(ctx context.Context, opt Options) *NtWriteFile {
	f.t.Helper()
	opt.Physical = vmi.ReaderAt(f.tg)
	w, err := WatchNtWriteFile(ctx, f.mgr, f.k, opt)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// hitNtWriteFile stops the guest at NtWriteFile's first instruction and
// returns the stop.
func (f *fakeGuest) hitNtWriteFile(ctx context.Context) *vmi.Stop {
	f.t.Helper()
	regs := f.g.Registers(f.g.Global("NtWriteFile"), f.g.Call(nttest.KernelBase+0x3000))
	stop, err := f.tg.Hit(ctx, cpu0, regs)
	if err != nil {
		f.t.Fatal(err)
	}
	return stop
}

func resumes(s vmitest.State) int {
	n := 0
	for _, c := range s.Calls {
		if c.Op == vmitest.OpResume && c.Err == nil {
			n++
		}
	}
	return n
}

// waitResumed waits until the guest runs again after more than n resumes.
func (f *fakeGuest) waitResumed(ctx context.Context, n int) {
	f.t.Helper()
	if err := f.tg.Wait(ctx, func(s vmitest.State) bool { return s.Running && resumes(s) > n }); err != nil {
		f.t.Fatalf("the guest was not resumed: %v", err)
	}
}
