package session

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/frostvmi/frost/symbols"
	"github.com/frostvmi/frost/symbols/pe"
)

// ErrNoModule: no loaded module has the name or base asked for.
var ErrNoModule = errors.New("no such module")

// ModuleError says which module was not found, and which there are.
type ModuleError struct {
	Want   string   // the name or address asked for
	Where  string   // "pid 72", "the kernel"
	Loaded []string // the names that are loaded there
}

func (e *ModuleError) Error() string {
	return fmt.Sprintf("no module %s in %s (loaded: %s)", e.Want, e.Where, strings.Join(e.Loaded, ", "))
}

func (e *ModuleError) Unwrap() error { return ErrNoModule }

// ModuleQuery names a module to dump: a process's (PID) or the kernel's
// (Kernel), by base name or full path (Name, case-insensitive) or by
// base address (Base).
type ModuleQuery struct {
	PID    uint64
	Kernel bool
	Name   string
	Base   uint64
}

// ModuleDump is a loaded module rebuilt as a PE file.
type ModuleDump struct {
	Name, Path string
	Base, Size uint64
	// PDB is the image's RSDS identity; nil when it has none.
	PDB *symbols.Identity
	*pe.Rebuilt
}

// DumpModule finds the module and rebuilds it from memory (pe.Rebuild).
// Pages that could not be read are zero in the file and listed in
// Unreadable; the caller must report them.
func (s *Session) DumpModule(ctx context.Context, q ModuleQuery) (*ModuleDump, error) {
	k, err := s.Kernel(ctx)
	if err != nil {
		return nil, err
	}
	type cand struct {
		name, path string
		base, size uint64
	}
	var cands []cand
	where, dtb := "the kernel", k.DTB()
	if q.Kernel {
		mods, err := k.Drivers()
		if err != nil && len(mods) == 0 {
			return nil, fmt.Errorf("the kernel's module list: %w", err)
		}
		for _, m := range mods {
			cands = append(cands, cand{m.Name, m.FullName, m.Base, m.Size})
		}
	} else {
		p, err := k.ProcessByPID(q.PID)
		if err != nil {
			return nil, err
		}
		where, dtb = fmt.Sprintf("pid %d (%s)", q.PID, p.Name), p.DTB
		imgs, err := k.ProcessImages(p)
		if err != nil && len(imgs) == 0 {
			return nil, fmt.Errorf("the modules of pid %d: %w", q.PID, err)
		}
		for _, m := range imgs {
			full := m.FullName
			if full == "" {
				full = m.MappedFile
			}
			name := m.Name
			if name == "" {
				name = baseName(full)
			}
			cands = append(cands, cand{name, full, m.Base, m.Size})
		}
	}
	found := -1
	for i, c := range cands {
		if q.Name != "" && (strings.EqualFold(c.name, q.Name) || strings.EqualFold(c.path, q.Name) || strings.EqualFold(baseName(c.path), q.Name)) ||
			q.Name == "" && q.Base == c.base {
			found = i
			break
		}
	}
	if found < 0 {
		want := q.Name
		if want == "" {
			want = fmt.Sprintf("at %#x", q.Base)
		}
		var names []string
		for _, c := range cands {
			names = append(names, c.name)
		}
		return nil, &ModuleError{Want: want, Where: where, Loaded: names}
	}
	c := cands[found]
	mem := processReader{k.Translator, dtb}
	r, err := pe.Rebuild(mem, c.base)
	if err != nil {
		return nil, fmt.Errorf("rebuilding %s at %#x: %w", c.name, c.base, err)
	}
	d := &ModuleDump{Name: c.name, Path: c.path, Base: c.base, Size: c.size, Rebuilt: r}
	if img, err := pe.Mapped(mem, c.base); err == nil {
		d.PDB = &img.ID
	}
	if r.Headers != nil {
		d.Size = uint64(r.Headers.SizeOfImage)
	}
	return d, nil
}

// baseName is the last element of a Windows or NT path.
func baseName(p string) string {
	return path.Base(strings.ReplaceAll(p, `\`, "/"))
}
