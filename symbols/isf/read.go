// Package isf reads and writes Volatility 3's Intermediate Symbol Format
// (ISF 6.x, plain .json or .json.xz) to and from the model of package
// symbols, so the rest of Frost gets the same answers from an ISF as from
// a PDB, and Volatility 3 users can use what Frost resolved from a PDB.
//
// Symbol addresses in an ISF are RVAs, as in package symbols.
//
// Reading is bounded: a file is refused past MaxSize bytes of JSON, and an
// xz file is checked before decoding (single stream; LZMA2 dictionary at
// most MaxDict; declared uncompressed size at most MaxSize), so a small
// malformed file cannot make the decoder allocate gigabytes. Reading n
// bytes of JSON allocates at most about 16n bytes (the real kernel's 6.25
// MB ISF: 48 MB, 7.7n); the fuzz target checks 16n + MaxDict + 1 MiB.
package isf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/frostvmi/frost/symbols"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Limits on what Read accepts.
const (
	// MaxSize bounds the JSON text, after decompression. The real
	// Windows 10 kernel's ISF is 6.25 MB.
	MaxSize = 128 << 20
	// MaxDict bounds the LZMA2 dictionary of an .xz file; xz -9 uses 64
	// MiB.
	MaxDict = 64 << 20
)

// ErrFormat is wrapped by every error about a malformed ISF file.
var ErrFormat = errors.New("malformed ISF")

// FormatError says what is wrong with an ISF file and where.
type FormatError struct {
	Where string // e.g. "user_types._EPROCESS.fields.Pcb"
	What  string
}

func (e *FormatError) Error() string {
	if e.Where == "" {
		return "isf: " + e.What
	}
	return "isf: " + e.Where + ": " + e.What
}

func (e *FormatError) Unwrap() error { return ErrFormat }

func bad(where, format string, args ...any) error {
	return &FormatError{Where: where, What: fmt.Sprintf(format, args...)}
}

// Open reads an ISF file, compressed with xz or not (told by its content,
// not its name).
func Open(path string) (*symbols.Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Read reads an ISF, plain or xz-compressed, into a table.
func Read(r io.Reader) (*symbols.Table, error) {
	d, err := ReadData(r)
	if err != nil {
		return nil, err
	}
	return symbols.New(d)
}

// ReadData reads an ISF, plain or xz-compressed, into the model.
func ReadData(r io.Reader) (*symbols.Data, error) {
	text, err := readText(r)
	if err != nil {
		return nil, err
	}
	return parse(text)
}

// ReadIdentity reads only the metadata's PDB identity.
func ReadIdentity(r io.Reader) (symbols.Identity, error) {
	text, err := readText(r)
	if err != nil {
		return symbols.Identity{}, err
	}
	m, err := parseMetadata(text)
	if err != nil {
		return symbols.Identity{}, err
	}
	id, _, err := identity(m)
	return id, err
}

// readText returns the JSON text, decompressing xz.
func readText(r io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxSize {
		return nil, bad("", "file over %d bytes", MaxSize)
	}
	if !IsXZ(raw) {
		return raw, nil
	}
	size, err := checkXZ(raw, MaxDict, MaxSize)
	if err != nil {
		return nil, &FormatError{What: err.Error()}
	}
	zr, err := xz.ReaderConfig{DictCap: lzma.MinDictCap, SingleStream: true}.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, &FormatError{What: err.Error()}
	}
	// The index promised size bytes; hold the decoder to it.
	text := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := io.Copy(text, io.LimitReader(zr, int64(size)+1)); err != nil {
		return nil, &FormatError{What: err.Error()}
	}
	if uint64(text.Len()) != size {
		return nil, bad("", "xz stream decompresses to %d bytes, its index says %d", text.Len(), size)
	}
	return text.Bytes(), nil
}

// identity reads metadata: the format version and the Windows PDB.
func identity(m *metadata) (symbols.Identity, uint16, error) {
	major, _, _ := strings.Cut(m.Format, ".")
	if v, err := strconv.Atoi(major); err != nil || v < 2 || v > 6 {
		return symbols.Identity{}, 0, bad("metadata.format", "%q: Frost reads ISF formats 2 to 6", m.Format)
	}
	if m.Windows == nil || m.Windows.PDB == nil {
		return symbols.Identity{}, 0, nil
	}
	p := m.Windows.PDB
	g, err := symbols.ParseGUID(p.GUID)
	if err != nil {
		return symbols.Identity{}, 0, bad("metadata.windows.pdb.GUID", "%v", err)
	}
	return symbols.Identity{GUID: g, Age: p.Age, PDBName: p.Database}, p.MachineType, nil
}
