package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/symbols/store"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// watchAll follows a job to its end and returns its stages and result.
func watchAll(t *testing.T, j *BootJob) ([]string, *BootResult) {
	t.Helper()
	var stages []string
	var res *BootResult
	err := j.Watch(ctxT(t), true,
		func(st BootStep) error { stages = append(stages, st.Stage); return nil },
		func(r *BootResult) error { res = r; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return stages, res
}

// A boot without winboot starts the domain paused, attaches, and lets it
// run; the record replays to any watcher, after the end too.
func TestBootWithoutWinboot(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(nil, nil)
	release := make(chan struct{})
	b := &Booter{Config: quiet, Registry: reg,
		Start: func(ctx context.Context, name string, paused bool) error {
			if !paused {
				t.Error("started running")
			}
			<-release
			return nil
		},
		Attach: func(context.Context, string) (vmi.Target, error) { return tg, nil },
	}
	j, err := b.Boot(BootRequest{Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Boot(BootRequest{Name: "g"}); !errors.Is(err, ErrBootInProgress) {
		t.Errorf("a second boot of g while the first runs: %v", err)
	}
	close(release)
	stages, res := watchAll(t, j)
	if want := []string{StageAccepted, StageStarting, StageAttached, StageRunning}; len(stages) != 4 || stages[0] != want[0] || stages[3] != want[3] {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if !res.Success || res.Err != nil || res.Finished.Before(res.Started) {
		t.Errorf("result %+v", res)
	}
	if err := tg.WaitRunning(ctxT(t)); err != nil {
		t.Errorf("the booted guest does not run: %v", err)
	}
	s := reg.Lookup("g")
	if s == nil {
		t.Fatal("the booted VM is not attached")
	}
	defer s.Close(context.Background())
	if b.Latest("g") != j {
		t.Error("Latest is not the boot")
	}
	again, res2 := watchAll(t, j)
	if len(again) != len(stages) || res2 != res {
		t.Error("a second watcher sees another record")
	}
}

// A boot that cannot attach lets the domain it started paused run.
func TestBootLetsGoWhenAttachFails(t *testing.T) {
	var resumed []string
	b := &Booter{Config: quiet, Registry: NewRegistry(nil, nil),
		Start:  func(context.Context, string, bool) error { return nil },
		Attach: func(context.Context, string) (vmi.Target, error) { return nil, errors.New("no gdbstub") },
		Resume: func(_ context.Context, name string) error { resumed = append(resumed, name); return nil },
	}
	j, err := b.Boot(BootRequest{Name: "g", Winboot: true})
	if err != nil {
		t.Fatal(err)
	}
	_, res := watchAll(t, j)
	if res.Err == nil || res.Success || len(resumed) != 1 {
		t.Errorf("result %+v, resumed %v", res, resumed)
	}
	// A failed boot may be tried again.
	if _, err := b.Boot(BootRequest{Name: "g"}); err != nil {
		t.Errorf("a boot after a failed one: %v", err)
	}
}

// A guest that never maps a Windows kernel (here: never in long mode)
// fails a winboot boot once the deadline passes, and runs on.
func TestWinbootBootOfAGuestThatIsNotWindows(t *testing.T) {
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := *quiet
	cfg.Symbols = st
	reg := NewRegistry(nil, nil)
	b := &Booter{Config: &cfg, Registry: reg,
		Start:  func(context.Context, string, bool) error { return nil },
		Attach: func(context.Context, string) (vmi.Target, error) { return tg, nil },
	}
	j, err := b.Boot(BootRequest{Name: "linux", Winboot: true, Deadline: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, res := watchAll(t, j)
	if res.Err == nil || res.Success || !strings.Contains(res.Err.Error(), "ntoskrnl not found") {
		t.Fatalf("result err %v, success %v: want the kernel not found", res.Err, res.Success)
	}
	if testing.Verbose() {
		t.Logf("the boot ended: %v", res.Err)
	}
	if err := tg.WaitRunning(ctxT(t)); err != nil {
		t.Errorf("the guest was left stopped: %v", err)
	}
	if s := reg.Lookup("linux"); s != nil {
		s.Close(context.Background())
	}
}
