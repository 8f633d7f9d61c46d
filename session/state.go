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
// OOM) the next frostd knows which guests may still carry its breakpoints
// or sit stopped at one. It is rewritten atomically on every change.
type StateFile struct {
	Path string

	mu sync.Mutex
	// unrecovered are VMs a previous frostd held that this one could not
	// let go yet; they stay recorded until a recovery succeeds.
	unrecovered map[string]bool
}

// stateDoc is the file's format.
type stateDoc struct {
	PID     int       `json:"pid"`
	Updated time.Time `json:"updated"`
	VMs     []string  `json:"vms"`
}

// Load reads the VMs recorded by the previous frostd; a missing file is an
// empty record.
func (f *StateFile) Load() ([]string, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var d stateDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("state file %s: %w", f.Path, err)
	}
	return d.VMs, nil
}

// Keep marks VMs to stay recorded although this frostd does not hold them.
func (f *StateFile) Keep(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unrecovered == nil {
		f.unrecovered = map[string]bool{}
	}
	for _, n := range names {
		f.unrecovered[n] = true
	}
}

// Save records held (the registry's names) and the VMs kept unrecovered.
// A held VM is no longer unrecovered: this frostd owns it now.
func (f *StateFile) Save(held []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := map[string]bool{}
	for _, n := range held {
		set[n] = true
		delete(f.unrecovered, n)
	}
	for n := range f.unrecovered {
		set[n] = true
	}
	d := stateDoc{PID: os.Getpid(), Updated: time.Now().UTC(), VMs: []string{}}
	for n := range set {
		d.VMs = append(d.VMs, n)
	}
	sort.Strings(d.VMs)
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(f.Path, append(b, '\n'))
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
