package isf

import (
	"math"
	"sort"
	"strconv"

	"github.com/frostvmi/frost/symbols"
)

// decoder turns ISF text into the model in one pass.
type decoder struct {
	s      scanner
	intern map[string]string
	d      *symbols.Data
	meta   metadata
}

func (dc *decoder) failf(where, format string, args ...any) {
	if dc.s.err == nil {
		dc.s.err = bad(where, format, args...)
	}
}

// parse decodes an ISF document.
func parse(text []byte) (*symbols.Data, error) {
	dc := &decoder{
		s:      scanner{b: text},
		intern: map[string]string{},
		d: &symbols.Data{
			BaseTypes: map[string]symbols.BaseType{},
			UserTypes: map[string]*symbols.UserType{},
			Enums:     map[string]*symbols.Enum{},
			Symbols:   map[string]symbols.Symbol{},
		},
	}
	seen := map[string]bool{}
	dc.s.object(func(key []byte) {
		k := string(key)
		seen[k] = true
		switch k {
		case "metadata":
			dc.metadata()
		case "base_types":
			dc.s.object(func(name []byte) { dc.baseType(string(name)) })
		case "user_types":
			dc.s.object(func(name []byte) { dc.userType(string(name)) })
		case "enums":
			dc.s.object(func(name []byte) { dc.enum(string(name)) })
		case "symbols":
			dc.s.object(func(name []byte) { dc.symbol(string(name)) })
		default:
			dc.s.skip()
		}
	})
	dc.s.end()
	for _, k := range []string{"metadata", "base_types", "user_types", "enums", "symbols"} {
		if dc.s.err == nil && !seen[k] {
			dc.failf("", "no %q", k)
		}
	}
	if err := dc.s.err; err != nil {
		if _, ok := err.(*FormatError); !ok {
			err = &FormatError{What: err.Error()}
		}
		return nil, err
	}
	id, machine, err := identity(&dc.meta)
	if err != nil {
		return nil, err
	}
	dc.d.ID, dc.d.Machine = id, machine
	return dc.d, nil
}

// parseMetadata decodes only the metadata of an ISF document, skipping
// the rest without building it.
func parseMetadata(text []byte) (*metadata, error) {
	dc := &decoder{s: scanner{b: text}}
	found := false
	dc.s.object(func(key []byte) {
		if string(key) == "metadata" {
			found = true
			dc.metadata()
		} else {
			dc.s.skip()
		}
	})
	dc.s.end()
	if dc.s.err == nil && !found {
		dc.failf("", "no \"metadata\"")
	}
	if err := dc.s.err; err != nil {
		if _, ok := err.(*FormatError); !ok {
			err = &FormatError{What: err.Error()}
		}
		return nil, err
	}
	return &dc.meta, nil
}

func (dc *decoder) metadata() {
	s := &dc.s
	s.object(func(key []byte) {
		switch string(key) {
		case "format":
			dc.meta.Format = string(s.rawString())
		case "windows":
			s.object(func(key []byte) {
				if string(key) != "pdb" {
					s.skip()
					return
				}
				p := &pdbInfo{}
				dc.meta.Windows = &windows{PDB: p}
				s.object(func(key []byte) {
					switch string(key) {
					case "GUID":
						p.GUID = string(s.rawString())
					case "age":
						if v := s.uint("age"); v > math.MaxUint32 {
							dc.failf("metadata.windows.pdb.age", "%d", v)
						} else {
							p.Age = uint32(v)
						}
					case "database":
						p.Database = string(s.rawString())
					case "machine_type":
						if v := s.uint("machine_type"); v > math.MaxUint16 {
							dc.failf("metadata.windows.pdb.machine_type", "%d", v)
						} else {
							p.MachineType = uint16(v)
						}
					default:
						s.skip()
					}
				})
			})
		default:
			s.skip()
		}
	})
}

func (dc *decoder) baseType(name string) {
	s := &dc.s
	var b symbols.BaseType
	var kind, endian string
	s.object(func(key []byte) {
		switch string(key) {
		case "size":
			b.Size = s.uint("size")
		case "signed":
			b.Signed = s.boolean()
		case "kind":
			kind = dc.s.str(dc.intern)
		case "endian":
			endian = dc.s.str(dc.intern)
		default:
			s.skip()
		}
	})
	b.Kind = symbols.BaseKind(kind)
	switch b.Kind {
	case symbols.BaseInt, symbols.BaseChar, symbols.BaseFloat, symbols.BaseBool, symbols.BaseVoid:
	default:
		dc.failf("base_types."+name, "kind %q", kind)
	}
	switch endian {
	case "little":
	case "big":
		b.BigEndian = true
	default:
		dc.failf("base_types."+name, "endian %q", endian)
	}
	dc.d.BaseTypes[name] = b
}

func (dc *decoder) userType(name string) {
	s := &dc.s
	ut := &symbols.UserType{}
	var kind string
	sawKind, sawSize, sawFields := false, false, false
	s.object(func(key []byte) {
		switch string(key) {
		case "kind":
			kind, sawKind = dc.s.str(dc.intern), true
		case "size":
			ut.Size, sawSize = s.uint("size"), true
		case "fields":
			sawFields = true
			s.object(func(fname []byte) {
				m := symbols.Member{Name: string(fname)}
				var ref *symbols.TypeRef
				s.object(func(key []byte) {
					switch string(key) {
					case "type":
						ref = dc.typeDesc("user_types."+name+".fields."+m.Name, 0)
					case "offset":
						m.Offset = s.uint("offset")
					case "anonymous":
						m.Anonymous = s.boolean()
					default:
						s.skip()
					}
				})
				if ref == nil {
					dc.failf("user_types."+name+".fields."+m.Name, "no type")
					return
				}
				m.Type = *ref
				ut.Fields = append(ut.Fields, m)
			})
		default:
			s.skip()
		}
	})
	if s.err != nil {
		return
	}
	if !sawKind || !sawSize || !sawFields {
		dc.failf("user_types."+name, "want kind, size and fields")
		return
	}
	k, ok := symbols.ParseKind(kind)
	if !ok || !k.IsUserType() {
		dc.failf("user_types."+name, "kind %q", kind)
		return
	}
	ut.Kind = k
	// JSON objects have no order; offset order reads like the source.
	sort.Slice(ut.Fields, func(i, j int) bool {
		a, b := &ut.Fields[i], &ut.Fields[j]
		if a.Offset != b.Offset {
			return a.Offset < b.Offset
		}
		return a.Name < b.Name
	})
	dc.d.UserTypes[name] = ut
}

// maxTypeDepth bounds nested type descriptors.
const maxTypeDepth = 64

// typeDesc reads a type descriptor.
func (dc *decoder) typeDesc(where string, depth int) *symbols.TypeRef {
	s := &dc.s
	if depth >= maxTypeDepth {
		dc.failf(where, "type descriptors nest deeper than %d", maxTypeDepth)
		return nil
	}
	ref := &symbols.TypeRef{}
	var kind []byte
	var hasCount, hasPos, hasLen bool
	s.object(func(key []byte) {
		switch string(key) {
		case "kind":
			kind = s.rawString()
		case "name":
			ref.Name = s.str(dc.intern)
		case "subtype", "type":
			if ref.Sub != nil {
				dc.failf(where, "both subtype and type")
				return
			}
			ref.Sub = dc.typeDesc(where, depth+1)
		case "count":
			ref.Count, hasCount = s.uint("count"), true
		case "bit_position":
			v := s.uint("bit_position")
			ref.BitPosition, hasPos = uint32(min(v, math.MaxUint32)), true
		case "bit_length":
			v := s.uint("bit_length")
			ref.BitLength, hasLen = uint32(min(v, math.MaxUint32)), true
		default:
			s.skip()
		}
	})
	if s.err != nil {
		return nil
	}
	k, ok := symbols.ParseKind(string(kind))
	if !ok {
		dc.failf(where, "type kind %q", kind)
		return nil
	}
	ref.Kind = k
	switch k {
	case symbols.KindBase, symbols.KindStruct, symbols.KindUnion, symbols.KindClass, symbols.KindEnum:
		if ref.Name == "" {
			dc.failf(where, "a %s type without a name", k)
		}
	case symbols.KindPointer:
		if ref.Sub == nil {
			dc.failf(where, "a pointer without a subtype")
		}
	case symbols.KindArray:
		if ref.Sub == nil || !hasCount {
			dc.failf(where, "an array without a subtype or count")
		}
	case symbols.KindBitfield:
		switch {
		case ref.Sub == nil || !hasPos || !hasLen:
			dc.failf(where, "a bitfield without type, bit_position or bit_length")
		case ref.Sub.Kind != symbols.KindBase && ref.Sub.Kind != symbols.KindEnum:
			dc.failf(where, "a bitfield of a %s", ref.Sub.Kind)
		case ref.BitLength == 0 || uint64(ref.BitPosition)+uint64(ref.BitLength) > 128:
			dc.failf(where, "bitfield of %d bits at bit %d", ref.BitLength, ref.BitPosition)
		}
	}
	if s.err != nil {
		return nil
	}
	return ref
}

func (dc *decoder) enum(name string) {
	s := &dc.s
	e := &symbols.Enum{Constants: map[string]int64{}}
	s.object(func(key []byte) {
		switch string(key) {
		case "size":
			e.Size = s.uint("size")
		case "base":
			e.Base = s.str(dc.intern)
		case "constants":
			s.object(func(c []byte) {
				cname := string(c)
				n := s.number()
				if s.err != nil {
					return
				}
				v, err := integer(string(n))
				if err != nil {
					dc.failf("enums."+name+".constants."+cname, "%v", err)
					return
				}
				e.Constants[cname] = v
			})
		default:
			s.skip()
		}
	})
	dc.d.Enums[name] = e
}

func (dc *decoder) symbol(name string) {
	s := &dc.s
	var sym symbols.Symbol
	sawAddr := false
	s.object(func(key []byte) {
		switch string(key) {
		case "address":
			n := s.number()
			if s.err != nil {
				return
			}
			a, err := address(string(n))
			if err != nil {
				dc.failf("symbols."+name+".address", "%v", err)
				return
			}
			sym.Address, sawAddr = a, true
		case "linkage_name":
			sym.LinkageName = string(s.rawString())
		case "type":
			sym.Type = dc.typeDesc("symbols."+name+".type", 0)
		default:
			s.skip()
		}
	})
	if s.err == nil && !sawAddr {
		dc.failf("symbols."+name, "no address")
	}
	dc.d.Symbols[name] = sym
}

// integer reads an enum constant; values past int64 (unsigned 64-bit
// enums) keep their bits.
func integer(n string) (int64, error) {
	if v, err := strconv.ParseInt(n, 10, 64); err == nil {
		return v, nil
	}
	v, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return 0, &FormatError{What: strconv.Quote(n) + " is not a 64-bit integer"}
	}
	return int64(v), nil
}

// address reads a symbol address: an integer, or a float holding one.
func address(n string) (uint64, error) {
	if v, err := strconv.ParseUint(n, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f < 0 || f >= math.MaxUint64 || f != math.Trunc(f) {
		return 0, &FormatError{What: strconv.Quote(n) + " is not an address"}
	}
	return uint64(f), nil
}
