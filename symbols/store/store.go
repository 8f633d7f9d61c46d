// Package store finds the symbols of a module by its identity (PDB GUID,
// age and name) along an _NT_SYMBOL_PATH-style path: local directories,
// and srv*<cache>*<server> entries that download into a cache.
//
// Layouts, relative to a directory or server root:
//
//	PDB  <pdbname>/<GUID><AGE>/<pdbname>       AGE in upper-case hex
//	ISF  <pdbname>/<GUID>-<AGE>.json[.xz]      AGE in decimal (Volatility 3)
//
// A plain directory is also searched for <pdbname> itself (a build output
// directory). Every file found or downloaded is checked against the GUID
// and age asked for; a download is written to a temporary file in the
// cache, checked, then renamed into place, so the cache never holds a
// partial or wrong file. A server that offers only a compressed .pd_
// (CAB) or a file.ptr redirection gets a clear "not supported" error.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/frostvmi/frost/symbols"
)

// Errors an attempt can fail with, for errors.Is.
var (
	ErrNotFound    = errors.New("symbols not found")
	ErrUnreachable = errors.New("symbol server unreachable")
	ErrMismatch    = errors.New("file does not match the GUID and age asked for")
	ErrUnsupported = errors.New("not supported")
	ErrOffline     = errors.New("offline mode: not downloaded")
)

// Store looks symbols up along a symbol path.
type Store struct {
	Path []Element
	// Offline forbids downloads; caches and directories are still read.
	Offline bool
	// Client makes the downloads. Nil means a client with Timeout that
	// follows at most 10 redirects.
	Client *http.Client
	// Timeout bounds one download, body included (default 2 minutes).
	Timeout time.Duration
	// MaxDownload bounds a downloaded file (default 1 GiB).
	MaxDownload int64
}

// New makes a store for a symbol path; see ParsePath.
func New(symbolPath, defaultCache string) (*Store, error) {
	p, err := ParsePath(symbolPath, defaultCache)
	if err != nil {
		return nil, err
	}
	return &Store{Path: p}, nil
}

// Attempt is one place the store looked, and why it did not do.
type Attempt struct {
	Where string
	Err   error
}

// NotFoundError lists every place looked at.
type NotFoundError struct {
	ID       symbols.Identity
	Attempts []Attempt
}

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "store: no symbols for %s (%s)", e.ID, PDBPath(e.ID))
	for _, a := range e.Attempts {
		fmt.Fprintf(&b, "; %s: %v", a.Where, a.Err)
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

// Load finds, downloads if it must, opens and checks the symbols of id.
// It returns the table and the file it came from.
func (s *Store) Load(ctx context.Context, id symbols.Identity) (*symbols.Table, string, error) {
	if err := CheckName(id.PDBName); err != nil {
		return nil, "", err
	}
	nf := &NotFoundError{ID: id}
	for _, el := range s.Path {
		dirs := el.Caches
		if el.Server == "" {
			dirs = []string{el.Dir}
		}
		for _, dir := range dirs {
			tab, p, err := s.fromDir(dir, id, el.Server == "")
			if err == nil {
				return tab, p, nil
			}
			nf.Attempts = append(nf.Attempts, Attempt{dir, err})
		}
		if el.Server == "" {
			continue
		}
		if s.Offline {
			nf.Attempts = append(nf.Attempts, Attempt{el.Server, ErrOffline})
			continue
		}
		p, err := s.download(ctx, el, id)
		if err != nil {
			nf.Attempts = append(nf.Attempts, Attempt{el.Server, err})
			continue
		}
		tab, err := openChecked(p, id)
		if err != nil {
			nf.Attempts = append(nf.Attempts, Attempt{p, err})
			continue
		}
		return tab, p, nil
	}
	return nil, "", nf
}

// candidates are the relative paths a directory may hold id under.
func candidates(id symbols.Identity, flat bool) []string {
	c := []string{PDBPath(id), ISFPath(id, ".json.xz"), ISFPath(id, ".json")}
	if flat {
		c = append(c, id.PDBName)
	}
	return c
}

// fromDir returns the first file under dir that is id's symbols.
func (s *Store) fromDir(dir string, id symbols.Identity, flat bool) (*symbols.Table, string, error) {
	var errs []error
	for _, rel := range candidates(id, flat) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Stat(p); err != nil {
			continue
		}
		tab, err := openChecked(p, id)
		if err == nil {
			return tab, p, nil
		}
		errs = append(errs, err)
	}
	if err := unsupportedIn(dir, id); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, "", ErrNotFound
	}
	return nil, "", errors.Join(errs...)
}

// unsupportedIn reports a compressed PDB or a file.ptr where the PDB
// should be, which Frost does not follow.
func unsupportedIn(dir string, id symbols.Identity) error {
	d := filepath.Join(dir, id.PDBName, id.PDBKey())
	for _, name := range []string{compressedName(id.PDBName), "file.ptr"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return unsupported(filepath.Join(d, name))
		}
	}
	return nil
}

// compressedName is the name of a CAB-compressed file in a symbol
// store: the last character replaced by '_' (ntkrnlmp.pd_).
func compressedName(name string) string { return name[:len(name)-1] + "_" }

func unsupported(where string) error {
	if strings.HasSuffix(where, "file.ptr") {
		return fmt.Errorf("%s: a file.ptr redirection is %w; fetch the file it names into the store", where, ErrUnsupported)
	}
	return fmt.Errorf("%s: a compressed (CAB) PDB is %w; expand it (expand -r, cabextract) into the store", where, ErrUnsupported)
}

// openChecked opens a PDB or ISF file and checks it is id's.
func openChecked(p string, id symbols.Identity) (*symbols.Table, error) {
	tab, err := OpenFile(p)
	if err != nil {
		return nil, err
	}
	if got := tab.Identity(); got.GUID != id.GUID || got.Age != id.Age {
		return nil, fmt.Errorf("%s is %s: %w (%s)", p, got, ErrMismatch, id)
	}
	return tab, nil
}
