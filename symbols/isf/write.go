package isf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/frostvmi/frost/symbols"
	"github.com/ulikunitz/xz"
)

// FormatVersion is the ISF format version the writer claims.
const FormatVersion = "6.1.0"

// Producer names the writer in the metadata.
var Producer = producer{Name: "frost", Version: "0.1.0"}

// Write writes d as ISF JSON. The output is deterministic: the same model
// always gives the same bytes.
func Write(w io.Writer, d *symbols.Data) error {
	f, err := fromData(d)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteXZ writes d as xz-compressed ISF JSON (.json.xz).
func WriteXZ(w io.Writer, d *symbols.Data) error {
	zw, err := xz.NewWriter(w)
	if err != nil {
		return err
	}
	if err := Write(zw, d); err != nil {
		return err
	}
	return zw.Close()
}

// WriteFile writes d to path, xz-compressed when path ends in ".xz". The
// file appears whole or not at all: it is written beside path and renamed.
func WriteFile(path string, d *symbols.Data) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if strings.HasSuffix(path, ".xz") {
		err = WriteXZ(tmp, d)
	} else {
		err = Write(tmp, d)
	}
	if err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func fromData(d *symbols.Data) (*file, error) {
	f := &file{
		Metadata:  metadata{Format: FormatVersion, Producer: &Producer},
		BaseTypes: make(map[string]baseType, len(d.BaseTypes)),
		UserTypes: make(map[string]userType, len(d.UserTypes)),
		Enums:     make(map[string]enum, len(d.Enums)),
		Symbols:   make(map[string]symbol, len(d.Symbols)),
	}
	var zero symbols.GUID
	if d.ID.GUID != zero || d.ID.PDBName != "" {
		f.Metadata.Windows = &windows{PDB: &pdbInfo{
			GUID: d.ID.GUID.String(), Age: d.ID.Age, Database: d.ID.PDBName, MachineType: d.Machine,
		}}
	}
	for name, b := range d.BaseTypes {
		endian := "little"
		if b.BigEndian {
			endian = "big"
		}
		f.BaseTypes[name] = baseType{Size: b.Size, Signed: b.Signed, Kind: string(b.Kind), Endian: endian}
	}
	for name, ut := range d.UserTypes {
		if !ut.Kind.IsUserType() {
			return nil, fmt.Errorf("isf: user type %s has kind %v", name, ut.Kind)
		}
		u := userType{Kind: ut.Kind.String(), Size: ut.Size, Fields: make(map[string]field, len(ut.Fields))}
		for i := range ut.Fields {
			m := &ut.Fields[i]
			if _, dup := u.Fields[m.Name]; dup {
				continue // the first of two same-named members is the one C sees
			}
			td, err := desc(&m.Type, 0)
			if err != nil {
				return nil, fmt.Errorf("isf: %s.%s: %w", name, m.Name, err)
			}
			u.Fields[m.Name] = field{Type: td, Offset: m.Offset, Anonymous: m.Anonymous}
		}
		f.UserTypes[name] = u
	}
	for name, e := range d.Enums {
		unsigned := !d.BaseTypes[e.Base].Signed && d.BaseTypes[e.Base].Kind != ""
		en := enum{Size: e.Size, Base: e.Base, Constants: make(map[string]json.Number, len(e.Constants))}
		for c, v := range e.Constants {
			// An unsigned 64-bit enum's top values are written as the
			// unsigned numbers they are.
			if unsigned && v < 0 {
				en.Constants[c] = json.Number(strconv.FormatUint(uint64(v), 10))
			} else {
				en.Constants[c] = json.Number(strconv.FormatInt(v, 10))
			}
		}
		f.Enums[name] = en
	}
	for name, s := range d.Symbols {
		sym := symbol{Address: s.Address, LinkageName: s.LinkageName}
		if s.Type != nil {
			td, err := desc(s.Type, 0)
			if err != nil {
				return nil, fmt.Errorf("isf: symbol %s: %w", name, err)
			}
			sym.Type = td
		}
		f.Symbols[name] = sym
	}
	return f, nil
}

func desc(r *symbols.TypeRef, depth int) (*typeDesc, error) {
	if r == nil {
		return nil, fmt.Errorf("no type")
	}
	if depth >= maxTypeDepth {
		return nil, fmt.Errorf("type nests deeper than %d", maxTypeDepth)
	}
	t := &typeDesc{Kind: r.Kind.String()}
	var err error
	switch r.Kind {
	case symbols.KindBase, symbols.KindStruct, symbols.KindUnion, symbols.KindClass, symbols.KindEnum:
		t.Name = r.Name
	case symbols.KindPointer:
		t.Subtype, err = desc(r.Sub, depth+1)
	case symbols.KindArray:
		count := r.Count
		t.Count = &count
		t.Subtype, err = desc(r.Sub, depth+1)
	case symbols.KindBitfield:
		pos, n := r.BitPosition, r.BitLength
		t.BitPosition, t.BitLength = &pos, &n
		t.Type, err = desc(r.Sub, depth+1)
	case symbols.KindFunction:
	default:
		return nil, fmt.Errorf("type of kind %v", r.Kind)
	}
	return t, err
}
