// Package pe reads the identity of a PE image: the CodeView RSDS record
// (PDB GUID, age and name) and SizeOfImage. The identity is the key into
// the symbol store.
//
// From a file on disk it uses debug/pe. From guest memory the image is in
// mapped layout, so headers, the debug directory and the RSDS record are
// read by RVA (AddressOfRawData), never by file offset; every size read
// from the guest is bounded before it is used, and pages that could not
// be read are reported.
//
// From a mapped image it also reads what user-mode symbols and stacks
// need without a PDB: the headers (MappedHeaders), the export table
// (Exports) and the x64 exception directory (RuntimeFunctions); and it
// lays the image out as a file again for a module dump (Rebuild).
package pe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/frostvmi/frost/symbols"
)

// Bounds on what an image may claim.
const (
	// MaxCodeView bounds a CodeView record: 24 bytes and a path.
	MaxCodeView = 4096
	// MaxImageSize bounds SizeOfImage (ntoskrnl is about 11 MB).
	MaxImageSize = 1 << 30
	// maxDebugEntries bounds the debug directory.
	maxDebugEntries = 64
	rsdsHeader      = 24
)

// ErrFormat is wrapped by every error about a malformed image or record.
var ErrFormat = errors.New("malformed PE image")

// FormatError says what is wrong with an image.
type FormatError struct{ What string }

func (e *FormatError) Error() string { return "pe: " + e.What }
func (e *FormatError) Unwrap() error { return ErrFormat }

func bad(format string, args ...any) error {
	return &FormatError{What: fmt.Sprintf(format, args...)}
}

// CodeView is a parsed RSDS record.
type CodeView struct {
	ID symbols.Identity // PDBName is the file name part of Path
	// Path is the PDB path as the linker recorded it (often absolute).
	Path string
}

// ParseRSDS parses a CodeView RSDS record: "RSDS", the GUID, the age and
// a NUL-terminated UTF-8 PDB path.
func ParseRSDS(rec []byte) (CodeView, error) {
	if len(rec) < rsdsHeader+1 {
		return CodeView{}, bad("CodeView record of %d bytes", len(rec))
	}
	if len(rec) > MaxCodeView {
		return CodeView{}, bad("CodeView record of %d bytes, over %d", len(rec), MaxCodeView)
	}
	if string(rec[:4]) != "RSDS" {
		return CodeView{}, bad("CodeView signature %q, want RSDS", rec[:4])
	}
	var cv CodeView
	copy(cv.ID.GUID[:], rec[4:20])
	cv.ID.Age = binary.LittleEndian.Uint32(rec[20:])
	path, _, found := bytes.Cut(rec[rsdsHeader:], []byte{0})
	if !found {
		return CodeView{}, bad("RSDS path is not NUL-terminated")
	}
	if len(path) == 0 || !utf8.Valid(path) {
		return CodeView{}, bad("RSDS path %q", clip(path))
	}
	cv.Path = string(path)
	cv.ID.PDBName = baseName(cv.Path)
	if cv.ID.PDBName == "" {
		return CodeView{}, bad("RSDS path %q names no file", clip(path))
	}
	return cv, nil
}

// baseName is the last element of a Windows or POSIX path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/:`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// clip shortens guest bytes quoted in an error, so a message never grows
// with what the guest claims.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
