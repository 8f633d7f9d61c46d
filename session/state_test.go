package session

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/vmitest"
)

func readHolds(t *testing.T, path string) Holds {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d stateDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return d.Holds
}

// A truncated state file is neither trusted nor overwritten unseen: it is
// kept aside whole, and Load says so with a *CorruptError.
func TestStateFileCorruptIsKeptAside(t *testing.T) {
	dir := t.TempDir()
	f := &StateFile{Path: filepath.Join(dir, "state.json")}
	torn := []byte(`{"pid": 7, "vms": ["held", "oth`)
	if err := os.WriteFile(f.Path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := f.LoadHolds()
	var ce *CorruptError
	if !errors.As(err, &ce) || !h.Empty() {
		t.Fatalf("LoadHolds = %v, %v; want a CorruptError", h, err)
	}
	if !strings.HasPrefix(ce.Kept, f.Path+".corrupt-") || !strings.Contains(err.Error(), ce.Kept) {
		t.Errorf("kept as %q; error %q", ce.Kept, err)
	}
	if b, err := os.ReadFile(ce.Kept); err != nil || string(b) != string(torn) {
		t.Errorf("kept copy: %q, %v", b, err)
	}
	if _, err := os.Stat(f.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupt file is still in place: %v", err)
	}
}

// A state file that cannot be written refuses the hold (a *RecordError
// naming the path), tells Health, and records nothing pending.
func TestStateFileUnwritableRefusesHolds(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var health []error
	f := &StateFile{Path: filepath.Join(blocker, "state.json"), Health: func(err error) { health = append(health, err) }}
	end, err := f.Begin(Hold{VM: "g", Kind: HoldAttached})
	var re *RecordError
	if !errors.As(err, &re) || end != nil || re.Path != f.Path || !strings.Contains(err.Error(), f.Path) {
		t.Fatalf("Begin = %v; want a RecordError naming %s", err, f.Path)
	}
	if len(health) == 0 || health[len(health)-1] == nil {
		t.Errorf("Health heard %v", health)
	}
	if c := f.Current(); !c.Empty() {
		t.Errorf("a refused hold stays recorded: %+v", c)
	}
	reg := NewRegistry(nil, nil)
	reg.UseRecorder(f)
	attach := reg.RecordedAttach(func(context.Context, string) (vmi.Target, error) {
		t.Error("attached without a record")
		return nil, errors.New("no")
	})
	if _, err := attach(context.Background(), "g"); !errors.As(err, &re) {
		t.Errorf("attach: %v", err)
	}
	b := &Booter{Config: quiet, Registry: reg, Start: func(context.Context, string, bool) error {
		t.Error("started without a record")
		return nil
	}}
	if _, err := b.Boot(BootRequest{Name: "g"}); !errors.As(err, &re) {
		t.Errorf("boot: %v", err)
	}
}

// Each hold is on disk, and told to Notify, before it begins; it is gone
// once it ends; a Notify that fails refuses it.
func TestStateFileBeginRecordsFirst(t *testing.T) {
	f := &StateFile{Path: filepath.Join(t.TempDir(), "state.json")}
	var told []Holds
	f.Notify = func(h Holds) error { told = append(told, h); return nil }
	end, err := f.Begin(Hold{VM: "p", Kind: HoldPaused})
	if err != nil {
		t.Fatal(err)
	}
	if h := readHolds(t, f.Path); !reflect.DeepEqual(h.Paused, []string{"p"}) || len(h.VMs) != 0 {
		t.Errorf("on disk: %+v", h)
	}
	if len(told) != 1 || !reflect.DeepEqual(told[0].Paused, []string{"p"}) {
		t.Errorf("told %+v", told)
	}
	if err := f.Save([]string{"a"}); err != nil {
		t.Fatal(err)
	}
	end()
	end() // a second end changes nothing
	if h := readHolds(t, f.Path); !reflect.DeepEqual(h, Holds{VMs: []string{"a"}}) {
		t.Errorf("after end: %+v", h)
	}
	f.Notify = func(Holds) error { return errors.New("guard gone") }
	if _, err := f.Begin(Hold{VM: "q", Kind: HoldAttached}); err == nil || !strings.Contains(err.Error(), "guard gone") {
		t.Errorf("Begin with a failing Notify: %v", err)
	}
}

// RecordedAttach writes the VM down as attached before its gdbstub stops
// it; a failed attach is forgotten, a held VM stays recorded by the
// registry.
func TestRecordedAttachRecordsBeforeAttaching(t *testing.T) {
	f := &StateFile{Path: filepath.Join(t.TempDir(), "state.json")}
	reg := NewRegistry(nil, func(names []string) { _ = f.Save(names) })
	reg.UseRecorder(f)
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fail := true
	attach := reg.RecordedAttach(func(_ context.Context, name string) (vmi.Target, error) {
		if h := readHolds(t, f.Path); !reflect.DeepEqual(h.VMs, []string{name}) {
			t.Errorf("at attach the record is %+v", h)
		}
		if fail {
			return nil, errors.New("no stub")
		}
		return tg, nil
	})
	if _, err := attach(context.Background(), "g"); err == nil {
		t.Fatal("want the attach's error")
	}
	if h := readHolds(t, f.Path); !h.Empty() {
		t.Errorf("a failed attach stays recorded: %+v", h)
	}
	fail = false
	got, err := attach(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(quiet, "g", "", got)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(s); err != nil {
		t.Fatal(err)
	}
	if h := readHolds(t, f.Path); !reflect.DeepEqual(h, Holds{VMs: []string{"g"}}) {
		t.Errorf("held: %+v", h)
	}
	if err := reg.CloseAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h := readHolds(t, f.Path); !h.Empty() {
		t.Errorf("after CloseAll: %+v", h)
	}
}

// Boot writes the domain down as paused before it starts it paused: a
// crash in between leaves it to the guard or the next frostd.
func TestBootRecordsBeforeStartingPaused(t *testing.T) {
	f := &StateFile{Path: filepath.Join(t.TempDir(), "state.json")}
	reg := NewRegistry(nil, func(names []string) { _ = f.Save(names) })
	reg.UseRecorder(f)
	tg, err := vmitest.New(vmitest.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &Booter{Config: quiet, Registry: reg,
		Start: func(_ context.Context, name string, paused bool) error {
			if h := readHolds(t, f.Path); !reflect.DeepEqual(h.Paused, []string{name}) {
				t.Errorf("at start the record is %+v", h)
			}
			return nil
		},
		Attach: reg.RecordedAttach(func(context.Context, string) (vmi.Target, error) { return tg, nil }),
	}
	j, err := b.Boot(BootRequest{Name: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if _, res := watchAll(t, j); !res.Success {
		t.Fatalf("boot: %+v", res)
	}
	// Once the boot ended the domain is held as attached only.
	if h := readHolds(t, f.Path); !reflect.DeepEqual(h, Holds{VMs: []string{"g"}}) {
		t.Errorf("after the boot: %+v", h)
	}
}
