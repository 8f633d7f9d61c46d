package translate

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
)

// ErrUnsafeName: a guest file name that could leave the configured
// directory (.., an absolute or UNC path, a drive letter, a stream).
var ErrUnsafeName = errors.New("file name would leave the configured directory")

// NameError reports a refused guest file name.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("translate: file name %q: %s", e.Name, e.Reason)
}

func (e *NameError) Unwrap() error { return ErrUnsafeName }

// FileDir serves mapped files from the one directory the operator
// configured. Names come from guest memory, so they are untrusted: a name is
// a volume-relative Windows path (\Windows\System32\ntdll.dll), matched
// case-insensitively component by component, and opened through an
// os.Root, which refuses symlinks that lead out of the directory.
type FileDir struct {
	root *os.Root
	mu   sync.Mutex
	// open holds one file per resolved path, so it is bounded by the
	// directory's content; names remembers how guest names resolved, up
	// to maxNames, so a hostile guest cannot grow it without bound.
	open  map[string]*os.File
	names map[string]string
}

// NewFileDir serves files under root. The caller opened root (os.OpenRoot)
// and keeps ownership of it; Close closes only the files FileDir opened.
func NewFileDir(root *os.Root) *FileDir {
	return &FileDir{root: root, open: make(map[string]*os.File), names: make(map[string]string)}
}

// Limits on guest file names, so a hostile one costs little.
const (
	maxNameLen        = 1024
	maxNameComponents = 64
	maxNames          = 4096
)

// Open returns the file behind a guest name. A name that does not resolve
// to a regular file in the directory gives an error wrapping
// ErrFileNotSupplied; an unsafe one, a *NameError.
func (d *FileDir) Open(name string) (io.ReaderAt, error) {
	parts, err := splitGuestName(name)
	if err != nil {
		return nil, err
	}
	key := strings.Join(parts, `\`)
	d.mu.Lock()
	defer d.mu.Unlock()
	rel, ok := d.names[key]
	if !ok {
		if rel, err = d.resolve(parts); err != nil {
			return nil, fmt.Errorf("%s: %w (%v)", name, ErrFileNotSupplied, err)
		}
		if len(d.names) < maxNames {
			d.names[key] = rel
		}
	}
	if f, ok := d.open[rel]; ok {
		return f, nil
	}
	f, err := d.root.Open(rel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", name, ErrFileNotSupplied, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w (not a regular file)", name, ErrFileNotSupplied)
	}
	d.open[rel] = f
	return f, nil
}

// Close closes the files FileDir opened.
func (d *FileDir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first error
	for k, f := range d.open {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
		delete(d.open, k)
	}
	clear(d.names)
	return first
}

// resolve finds each component case-insensitively. An exact match wins;
// two entries that differ only in case are ambiguous and refused.
func (d *FileDir) resolve(parts []string) (string, error) {
	fsys := d.root.FS()
	dir := "."
	for _, p := range parts {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return "", err
		}
		match := ""
		for _, e := range entries {
			if e.Name() == p {
				match = p
				break
			}
			if strings.EqualFold(e.Name(), p) {
				if match != "" {
					return "", fmt.Errorf("%q and %q differ only in case", match, e.Name())
				}
				match = e.Name()
			}
		}
		if match == "" {
			return "", fmt.Errorf("no %q in %s", p, dir)
		}
		dir = path.Join(dir, match)
	}
	return dir, nil
}

// splitGuestName splits a volume-relative Windows path into components and
// refuses anything that is not plainly inside the volume.
func splitGuestName(name string) ([]string, error) {
	bad := func(reason string) ([]string, error) { return nil, &NameError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLen:
		return bad("too long")
	case strings.HasPrefix(name, `\\`):
		return bad("a UNC or device path")
	case strings.ContainsAny(name, "/:*?\"<>|\x00"):
		return bad(`contains one of / : * ? " < > | or NUL: not a plain volume-relative path`)
	}
	parts := strings.Split(strings.TrimPrefix(name, `\`), `\`)
	if len(parts) > maxNameComponents {
		return bad("too many components")
	}
	for _, p := range parts {
		if p == "" {
			return bad("empty component")
		}
		// Windows drops trailing dots and spaces, so "..", "...", ". ." and
		// "x." could all alias something else.
		if strings.Trim(p, ". ") == "" {
			return bad("a . or .. component")
		}
		if strings.HasSuffix(p, ".") || strings.HasSuffix(p, " ") {
			return bad("a component ending in a dot or space")
		}
	}
	return parts, nil
}

// FilesByName is a FileResolver for a caller that knows each subsection's
// file name (nt reads it from the control area's FILE_OBJECT) and serves
// the files from a FileDir.
type FilesByName struct {
	Names func(subsection uint64) (string, error)
	Dir   *FileDir // nil: names only, no bytes
}

// SubsectionFile implements FileResolver.
func (f FilesByName) SubsectionFile(subsection uint64) (MappedFile, error) {
	if f.Names == nil {
		return MappedFile{}, fmt.Errorf("%w: no file names", ErrFileNotSupplied)
	}
	name, err := f.Names(subsection)
	if err != nil {
		return MappedFile{}, err
	}
	if f.Dir == nil {
		return MappedFile{Name: name}, fmt.Errorf("%s: %w: no file directory", name, ErrFileNotSupplied)
	}
	r, err := f.Dir.Open(name)
	if err != nil {
		return MappedFile{Name: name}, err
	}
	return MappedFile{Name: name, Data: r}, nil
}
