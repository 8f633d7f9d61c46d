package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/frostvmi/frost/symbols"
)

// Attempt is one place the store looked, and why it did not do.
type Attempt struct {
	Where string
	Err   error
}

// NotFoundError lists every place looked at. Its message is what a user
// needs to fix the path: the identity asked for, spelled out, then one
// line per place with each file or URL tried.
type NotFoundError struct {
	ID       symbols.Identity
	Attempts []Attempt
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: no symbols for %s", describe(e.ID))
	if len(e.Attempts) == 0 {
		b.WriteString(": empty symbol path")
		return b.String()
	}
	b.WriteString(" along the symbol path:")
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "\n  %s: %v", a.Where, a.Err)
	}
	return b.String()
}

// Unwrap lets errors.Is see ErrNotFound and each attempt's error.
func (e *NotFoundError) Unwrap() []error {
	out := []error{ErrNotFound}
	for _, a := range e.Attempts {
		out = append(out, a.Err)
	}
	return out
}

// describe spells an identity out, the age in decimal as Volatility's
// file names have it; the paths tried show the PDB layout's hex.
func describe(id symbols.Identity) string {
	return fmt.Sprintf("%s (GUID %s, age %d)", id.PDBName, id.GUID, id.Age)
}

// lookError is what one directory or server did not have: the files or
// URLs looked for that were absent, why each one present was not used,
// and what the directory holds under the name instead.
type lookError struct {
	missing string // how absence reads: "no file at", "not on the server:"
	tried   []string
	errs    []error
	others  string
}

func (e *lookError) Error() string {
	var parts []string
	for _, err := range e.errs {
		parts = append(parts, err.Error())
	}
	if len(e.tried) > 0 {
		parts = append(parts, e.missing+" "+strings.Join(e.tried, ", "))
	}
	if e.others != "" {
		parts = append(parts, e.others)
	}
	return strings.Join(parts, "; ")
}

func (e *lookError) Unwrap() []error { return append([]error{ErrNotFound}, e.errs...) }

// maxListed bounds how much of a store's name directory a miss reads, and
// maxShown how many of its builds the message names.
const (
	maxListed = 1024
	maxShown  = 5
)

// othersIn says which other builds dir holds under id's PDB name, in
// either layout: the likeliest cause of a miss in a store that exists is
// that it was filled for another build of Windows.
func othersIn(dir string, id symbols.Identity) string {
	var notes []string
	for _, d := range []string{
		filepath.Join(dir, id.PDBName),
		filepath.Join(dir, volatilityDir, id.PDBName),
	} {
		builds, truncated := buildsIn(d, id)
		if len(builds) == 0 {
			continue
		}
		hidden := max(len(builds)-maxShown, 0)
		note := fmt.Sprintf("%s holds other builds: %s", d, strings.Join(builds[:len(builds)-hidden], ", "))
		switch {
		case truncated:
			note += " and more"
		case hidden > 0:
			note += fmt.Sprintf(" and %d more", hidden)
		}
		notes = append(notes, note)
	}
	return strings.Join(notes, "; ")
}

// buildsIn lists a name directory's builds, sorted: PDB directories
// (<GUID><AGE>) and ISF files, not id's own names (a file of that name
// that failed has its own error) and not download leftovers. truncated
// says the directory has more than was read.
func buildsIn(d string, id symbols.Identity) (builds []string, truncated bool) {
	f, err := os.Open(d)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	ents, _ := f.ReadDir(maxListed)
	truncated = len(ents) == maxListed
	own := []string{id.PDBKey(), id.ISFKey() + ".json", id.ISFKey() + ".json.xz"}
	for _, e := range ents {
		name := e.Name()
		isISF := strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".json.xz")
		if slices.Contains(own, name) || strings.HasPrefix(name, ".") || (!e.IsDir() && !isISF) {
			continue
		}
		builds = append(builds, name)
	}
	slices.Sort(builds)
	return builds, truncated
}
