package session

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

// Recovery runs per VM in the background: a hung VM is reported once its
// timeout passes and stays recorded, the others are let go meanwhile, and
// calls on a VM being recovered get ErrBeingRecovered (Unavailable).
func TestRecoverPerVMInBackground(t *testing.T) {
	f := &StateFile{Path: filepath.Join(t.TempDir(), "state.json")}
	reg := NewRegistry(nil, nil)
	hung := make(chan struct{})
	defer close(hung)
	okDone := make(chan struct{})
	var resumed []string
	rel := Releaser{
		Timeout: 300 * time.Millisecond,
		Attach: func(ctx context.Context, name string) (vmi.Target, error) {
			if name == "hung" {
				<-hung // a QEMU that never answers, whatever the context says
				return nil, errors.New("late")
			}
			return vmitest.New(vmitest.Config{})
		},
		ResumePaused: func(_ context.Context, name string) (bool, error) {
			resumed = append(resumed, name)
			return true, nil
		},
	}
	results := make(chan RecoveryResult, 2)
	done := Recover(Holds{VMs: []string{"hung", "ok"}, Paused: []string{"ok"}}, f, reg, rel, func(r RecoveryResult) {
		if r.VM == "ok" {
			close(okDone)
		}
		results <- r
	})
	<-okDone
	if _, err := reg.Get("hung"); !errors.Is(err, ErrBeingRecovered) || !errors.Is(err, vmi.ErrClosed) {
		t.Errorf("Get(hung) during recovery: %v", err)
	}
	if _, err := reg.BeginHold(Hold{VM: "hung"}); !errors.Is(err, ErrBeingRecovered) {
		t.Errorf("a hold on a VM being recovered: %v", err)
	}
	<-done
	got := map[string]RecoveryResult{}
	for range 2 {
		r := <-results
		got[r.VM] = r
	}
	if r := got["ok"]; r.Err != nil || !r.Detached || !r.Resumed {
		t.Errorf("ok: %+v", r)
	}
	if r := got["hung"]; !errors.Is(r.Err, context.DeadlineExceeded) {
		t.Errorf("hung: %+v", r)
	}
	if !reflect.DeepEqual(resumed, []string{"ok"}) {
		t.Errorf("resumed %v", resumed)
	}
	if h := readHolds(t, f.Path); !reflect.DeepEqual(h, Holds{VMs: []string{"hung"}}) {
		t.Errorf("recorded after recovery: %+v (want the hung VM kept)", h)
	}
	if _, err := reg.Get("hung"); errors.Is(err, ErrBeingRecovered) {
		t.Errorf("still being recovered after the timeout: %v", err)
	}
}

// A domain that is gone, or no longer runs, has nothing left to let go.
func TestReleaseGoneDomain(t *testing.T) {
	rel := Releaser{Attach: func(context.Context, string) (vmi.Target, error) { return nil, ErrNotRunning }}
	if r := rel.Release(context.Background(), "off", true, false); r.Err != nil || !r.Gone {
		t.Errorf("shut-off domain: %+v", r)
	}
	rel.Attach = func(context.Context, string) (vmi.Target, error) { return nil, vmi.ErrNoDomain }
	if r := rel.Release(context.Background(), "gone", true, false); r.Err != nil || !r.Gone {
		t.Errorf("undefined domain: %+v", r)
	}
}
