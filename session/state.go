package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// StateFile records the VMs frostd holds, so that after a crash (SIGKILL,
// OOM) the guard, or the next frostd, knows which guests may still carry
// its breakpoints or sit stopped. It is rewritten atomically on every
// change, and a hold is written down before it begins: a guest frostd
// stops is never one nobody knows of.
type StateFile struct {
	Path string
	// Notify, if set, hears every record once it is on disk (frostd
	// tells its guard); an error refuses the hold that was beginning, as
	// an unwritable file does.
	Notify func(Holds) error
	// Health, if set, hears after every write whether the record works
	// (nil) or why not, so frostd can report NOT_SERVING meanwhile.
	Health func(err error)

	mu sync.Mutex
	// unrecovered are VMs a previous frostd held that this one could not
	// let go yet; they stay recorded until a recovery succeeds.
	unrecovered Holds
	// held are the registry's VMs; pending are holds beginning (an
	// attach, a boot's start paused), counted per name and kind.
	held    []string
	pending map[Hold]int
}

// HoldKind says how frostd holds a VM, and so how it is let go.
type HoldKind int

const (
	// HoldAttached: a gdbstub is (or is being) attached, so breakpoints
	// may be in and the guest may be stopped in `debug`. Let go by
	// attaching again (which removes them) and detaching with D;1.
	HoldAttached HoldKind = iota
	// HoldPaused: the domain was started or left paused through libvirt
	// (Boot's start paused). Let go by libvirt's resume.
	HoldPaused
)

// Hold is one hold beginning.
type Hold struct {
	VM   string
	Kind HoldKind
}

// Holds is what a frostd holds: the state file's content, and what the
// guard is told.
type Holds struct {
	// VMs are attached (HoldAttached).
	VMs []string `json:"vms"`
	// Paused were started or left paused through libvirt (HoldPaused).
	Paused []string `json:"paused,omitempty"`
}

// Empty says nothing is held.
func (h Holds) Empty() bool { return len(h.VMs) == 0 && len(h.Paused) == 0 }

// Names lists every VM of h once, sorted.
func (h Holds) Names() []string {
	return sortedSet(append(append([]string(nil), h.VMs...), h.Paused...))
}

// Without is h less the VMs named.
func (h Holds) Without(names []string) Holds {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	keep := func(in []string) []string {
		var out []string
		for _, n := range in {
			if !drop[n] {
				out = append(out, n)
			}
		}
		return out
	}
	return Holds{VMs: keep(h.VMs), Paused: keep(h.Paused)}
}

func (h Holds) merge(o Holds) Holds {
	return Holds{VMs: sortedSet(append(append([]string(nil), h.VMs...), o.VMs...)),
		Paused: sortedSet(append(append([]string(nil), h.Paused...), o.Paused...))}
}

// stateDoc is the file's format.
type stateDoc struct {
	PID     int       `json:"pid"`
	Updated time.Time `json:"updated"`
	Holds
}

// RecordError: the hold could not be written down (the state file or the
// guard), so frostd refuses it: a guest nobody knows of could be left
// stopped by a crash.
type RecordError struct {
	Path string
	Err  error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("frostd refuses to hold guests without a working crash record: %s: %v", e.Path, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// CorruptError: the state file could not be read as a record. Load moved
// it aside (Kept) so that it is neither trusted nor overwritten unseen.
type CorruptError struct {
	Path, Kept string
	Err        error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt (%v); kept aside as %s: the VMs it recorded are unknown", e.Path, e.Err, e.Kept)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Load lists the VMs recorded by the previous frostd, whatever their hold
// (LoadHolds, which it calls, says what a corrupt file does).
func (f *StateFile) Load() ([]string, error) {
	h, err := f.LoadHolds()
	return h.Names(), err
}

// LoadHolds reads the holds recorded by the previous frostd; a missing
// file is an empty record. A corrupt one is renamed to <path>.corrupt-<time> and
// reported as a *CorruptError with an empty record: the caller recovers
// what it can find elsewhere and says so loudly.
func (f *StateFile) LoadHolds() (Holds, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Holds{}, nil
	}
	if err != nil {
		return Holds{}, err
	}
	var d stateDoc
	if err := json.Unmarshal(b, &d); err != nil {
		kept := f.Path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if rerr := os.Rename(f.Path, kept); rerr != nil {
			return Holds{}, fmt.Errorf("state file %s is corrupt (%v) and could not be kept aside: %w", f.Path, err, rerr)
		}
		return Holds{}, &CorruptError{Path: f.Path, Kept: kept, Err: err}
	}
	return d.Holds, nil
}

// Keep marks VMs to stay recorded as attached although this frostd does
// not hold them.
func (f *StateFile) Keep(names []string) { f.KeepHolds(Holds{VMs: names}) }

// KeepHolds marks holds to stay recorded although this frostd does not
// hold them (a dead one did, and they are not let go yet).
func (f *StateFile) KeepHolds(h Holds) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unrecovered = f.unrecovered.merge(h)
}

// Save records held (the registry's names), the holds beginning and the
// VMs kept unrecovered. A held VM is no longer unrecovered, nor pending
// as attached: this frostd owns it now.
func (f *StateFile) Save(held []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.held = append([]string(nil), held...)
	f.unrecovered = f.unrecovered.Without(held)
	for _, n := range held {
		delete(f.pending, Hold{VM: n, Kind: HoldAttached})
	}
	return f.saveLocked()
}

// Begin writes a hold down before it begins; end forgets it once it is
// over (or has become the registry's). An error is a *RecordError: the
// hold must not begin.
func (f *StateFile) Begin(h Hold) (end func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		f.pending = map[Hold]int{}
	}
	f.pending[h]++
	if err := f.saveLocked(); err != nil {
		f.dropLocked(h)
		_ = f.saveLocked()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.dropLocked(h)
			_ = f.saveLocked() // a failure was reported through Health
		})
	}, nil
}

func (f *StateFile) dropLocked(h Hold) {
	if f.pending[h] <= 1 {
		delete(f.pending, h)
		return
	}
	f.pending[h]--
}

// Resave writes the record again and tells Notify: after a guard was
// lost, or when what is kept unrecovered changed.
func (f *StateFile) Resave() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.saveLocked()
}

// Current is what the file records now.
func (f *StateFile) Current() Holds {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.currentLocked()
}

func (f *StateFile) currentLocked() Holds {
	h := Holds{VMs: append([]string(nil), f.held...)}
	for p := range f.pending {
		if p.Kind == HoldPaused {
			h.Paused = append(h.Paused, p.VM)
		} else {
			h.VMs = append(h.VMs, p.VM)
		}
	}
	return h.merge(f.unrecovered)
}

func (f *StateFile) saveLocked() error {
	h := f.currentLocked()
	if h.VMs == nil {
		h.VMs = []string{} // the format always lists vms
	}
	d := stateDoc{PID: os.Getpid(), Updated: time.Now().UTC(), Holds: h}
	b, err := json.MarshalIndent(d, "", "  ")
	if err == nil {
		err = writeAtomic(f.Path, append(b, '\n'))
	}
	if err == nil && f.Notify != nil {
		err = f.Notify(h)
	}
	if err != nil {
		err = &RecordError{Path: f.Path, Err: err}
	}
	if f.Health != nil {
		f.Health(err)
	}
	return err
}

// Forget removes VMs from the file as it is on disk, leaving the rest:
// the guard's record of what it let go, written while no frostd runs, so
// a successor does not redo it.
func (f *StateFile) Forget(names []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, err := f.LoadHolds()
	if err != nil {
		return err
	}
	d := stateDoc{PID: os.Getpid(), Updated: time.Now().UTC(), Holds: h.Without(names)}
	if d.VMs == nil {
		d.VMs = []string{}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.Path, append(b, '\n'))
}

func sortedSet(in []string) []string {
	set := map[string]bool{}
	for _, n := range in {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// writeAtomic replaces path so that a crash leaves the old or the new file,
// never half of one.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
