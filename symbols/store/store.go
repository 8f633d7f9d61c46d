// Package store finds the symbols of a module by its identity (PDB GUID,
// age and name) along an _NT_SYMBOL_PATH-style path: local directories,
// and srv*<cache>*<server> entries that download into a cache.
//
// Layouts, relative to a directory or server root:
//
//	PDB  <pdbname>/<GUID><AGE>/<pdbname>          AGE in upper-case hex
//	ISF  <pdbname>/<GUID>-<AGE>.json[.xz]         AGE in decimal (Volatility 3)
//	ISF  windows/<pdbname>/<GUID>-<AGE>.json[.xz] a Volatility 3 symbols root
//
// A plain directory is also searched for <pdbname> itself (a build output
// directory). A miss names the identity looked for, every file and URL
// tried, and the other builds a directory holds under that name.
//
// Every file found or downloaded is checked against the GUID and age
// asked for; a download is written to a temporary file in the cache,
// checked, then renamed into place, so the cache never holds a partial
// or wrong file. A server that offers only a compressed .pd_
// (CAB) or a file.ptr redirection gets a clear "not supported" error.
package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
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

// candidates are the relative paths a directory or server may hold id
// under: the symbol store's PDB, Volatility's ISF in a directory of
// Windows tables, and the same under a Volatility symbols root (whose
// windows/ holds them), so a path may name either.
func candidates(id symbols.Identity, flat bool) []string {
	c := []string{
		PDBPath(id),
		ISFPath(id, ".json.xz"), ISFPath(id, ".json"),
		path.Join(volatilityDir, ISFPath(id, ".json.xz")), path.Join(volatilityDir, ISFPath(id, ".json")),
	}
	if flat {
		c = append(c, id.PDBName)
	}
	return c
}

// fromDir returns the first file under dir that is id's symbols, or a
// lookError naming every file looked for and why each one found was not
// used.
func (s *Store) fromDir(dir string, id symbols.Identity, flat bool) (*symbols.Table, string, error) {
	// A mistyped path entry is one line, not a list of files under it.
	if fi, err := os.Stat(dir); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrNotFound, err)
	} else if !fi.IsDir() {
		return nil, "", fmt.Errorf("%w: %s is not a directory", ErrNotFound, dir)
	}
	miss := &lookError{missing: "no file at"}
	for _, rel := range candidates(id, flat) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			miss.tried = append(miss.tried, p)
			continue
		case err != nil:
			// Permission denied, say, hides a file that may be there.
			miss.errs = append(miss.errs, err)
			continue
		case fi.IsDir() && rel == id.PDBName:
			// The store's directory for this name, not a flat file:
			// the layouts above looked inside it.
			continue
		case fi.IsDir():
			miss.errs = append(miss.errs, fmt.Errorf("%s is a directory, not a PDB or ISF file", p))
			continue
		}
		tab, err := openChecked(p, id)
		if err == nil {
			return tab, p, nil
		}
		miss.errs = append(miss.errs, err)
	}
	if err := unsupportedIn(dir, id); err != nil {
		miss.errs = append(miss.errs, err)
	}
	miss.others = othersIn(dir, id)
	return nil, "", miss
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
