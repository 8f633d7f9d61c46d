package symbols

import (
	"math/bits"
	"strconv"
	"strings"
)

// Field is where a field path leads, relative to the start of its root
// type.
type Field struct {
	// Offset is the byte offset of the field, or of a bitfield's storage
	// unit.
	Offset uint64
	// BitPosition and BitLength place a bitfield within the storage unit
	// at Offset (bit 0 is the least significant); both are zero for
	// anything else.
	BitPosition uint32
	BitLength   uint32
	// Size is the field's size in bytes; for a bitfield, the size of its
	// storage unit.
	Size uint64
	// Kind is Type.Kind: KindBitfield, KindBase, KindPointer, ...
	Kind Kind
	// Type is the field's declared type.
	Type TypeRef
}

// Extract returns the field's value from the little-endian storage unit
// raw read at Offset: the bits of a bitfield shifted down, or raw itself
// (masked to Size) for anything else.
func (f Field) Extract(raw uint64) uint64 {
	if f.Kind == KindBitfield {
		if f.BitLength >= 64 {
			return raw >> (f.BitPosition & 63)
		}
		return (raw >> (f.BitPosition & 63)) & (1<<f.BitLength - 1)
	}
	if f.Size >= 8 {
		return raw
	}
	return raw & (1<<(8*f.Size) - 1)
}

// maxDepth bounds every walk through the model (anonymous members,
// nested arrays, pointer chains): a malformed file may make them cycle.
const maxDepth = 64

// Field implements Symbols.
func (t *Table) Field(path string) (Field, error) {
	root, rest, ok := strings.Cut(path, ".")
	if !ok || root == "" || rest == "" || strings.HasSuffix(rest, ".") {
		return Field{}, t.badPath(path, "want Type.member[.member...]")
	}
	ix, found := t.types[root]
	if !found {
		return Field{}, &LookupError{Err: ErrTypeNotFound, Query: path, Missing: root, Table: t.data.ID}
	}
	var off uint64
	for {
		var comp string
		comp, rest, _ = strings.Cut(rest, ".")
		name, idx, err := splitIndex(comp)
		if err != "" {
			return Field{}, t.badPath(path, err)
		}
		budget := maxAnonVisits
		m, via, found := t.member(ix, name, 0, &budget)
		if !found {
			return Field{}, &LookupError{Err: ErrFieldNotFound, Query: path, Missing: name, In: ix.name, Table: t.data.ID}
		}
		if off, ok = addOffset(off, via, m.Offset); !ok {
			return Field{}, t.badPath(path, "offset overflows")
		}
		ref := &m.Type
		for idx != "" {
			var n uint64
			if n, idx, err = nextIndex(idx); err != "" {
				return Field{}, t.badPath(path, err)
			}
			if ref.Kind != KindArray || ref.Sub == nil {
				return Field{}, t.badPath(path, name+" is a "+ref.Kind.String()+", not an array")
			}
			if ref.Count != 0 && n >= ref.Count {
				return Field{}, t.badPath(path, "index "+strconv.FormatUint(n, 10)+" out of range for "+name+"["+strconv.FormatUint(ref.Count, 10)+"]")
			}
			esz, lerr := t.sizeOf(ref.Sub, path, 0)
			if lerr != nil {
				return Field{}, lerr
			}
			hi, lo := bits.Mul64(n, esz)
			if off, ok = addOffset(off, lo, 0); !ok || hi != 0 {
				return Field{}, t.badPath(path, "offset overflows")
			}
			ref = ref.Sub
		}
		if rest == "" {
			size, lerr := t.sizeOf(ref, path, 0)
			if lerr != nil {
				return Field{}, lerr
			}
			f := Field{Offset: off, Size: size, Kind: ref.Kind, Type: *ref}
			if ref.Kind == KindBitfield {
				f.BitPosition, f.BitLength = ref.BitPosition, ref.BitLength
			}
			return f, nil
		}
		if !ref.Kind.IsUserType() {
			return Field{}, t.badPath(path, comp+" is a "+ref.Kind.String()+"; a path only walks into structs and unions")
		}
		if ix, found = t.types[ref.Name]; !found {
			return Field{}, &LookupError{Err: ErrTypeNotFound, Query: path, Missing: ref.Name, Reason: "the type of " + comp + " is not defined", Table: t.data.ID}
		}
	}
}

// maxAnonVisits bounds the types one member lookup visits: a malformed
// file can nest anonymous members so that a full search is exponential.
const maxAnonVisits = 4096

// member finds name among ix's members, then inside its anonymous members
// (as C allows), returning the extra offset of the anonymous member it was
// found through.
func (t *Table) member(ix *typeIndex, name string, depth int, budget *int) (*Member, uint64, bool) {
	if i, ok := ix.byName[name]; ok {
		return &ix.t.Fields[i], 0, true
	}
	if *budget--; depth >= maxDepth || *budget <= 0 {
		return nil, 0, false
	}
	for _, i := range ix.anon {
		am := &ix.t.Fields[i]
		sub, ok := t.types[am.Type.Name]
		if !ok {
			continue
		}
		if m, via, ok := t.member(sub, name, depth+1, budget); ok {
			return m, am.Offset + via, true
		}
	}
	return nil, 0, false
}

// TypeSize returns the size in bytes of a type reference.
func (t *Table) TypeSize(ref *TypeRef) (uint64, error) {
	if ref == nil {
		return 0, t.badPath("", "nil type")
	}
	s, err := t.sizeOf(ref, ref.Name, 0)
	if err != nil {
		return 0, err
	}
	return s, nil
}

func (t *Table) sizeOf(ref *TypeRef, query string, depth int) (uint64, *LookupError) {
	if depth >= maxDepth {
		return 0, &LookupError{Err: ErrBadPath, Query: query, Reason: "type nests too deeply", Table: t.data.ID}
	}
	missing := func(name string) (uint64, *LookupError) {
		return 0, &LookupError{Err: ErrTypeNotFound, Query: query, Missing: name, Table: t.data.ID}
	}
	switch ref.Kind {
	case KindBase:
		b, ok := t.data.BaseTypes[ref.Name]
		if !ok {
			return missing(ref.Name)
		}
		return b.Size, nil
	case KindStruct, KindUnion, KindClass:
		ix, ok := t.types[ref.Name]
		if !ok {
			return missing(ref.Name)
		}
		return ix.t.Size, nil
	case KindEnum:
		e, ok := t.data.Enums[ref.Name]
		if !ok {
			return missing(ref.Name)
		}
		return e.Size, nil
	case KindPointer:
		b, ok := t.data.BaseTypes[PointerType]
		if !ok {
			return missing(PointerType)
		}
		return b.Size, nil
	case KindArray, KindBitfield:
		if ref.Sub == nil {
			return 0, &LookupError{Err: ErrBadPath, Query: query, Reason: ref.Kind.String() + " without an element type", Table: t.data.ID}
		}
		s, err := t.sizeOf(ref.Sub, query, depth+1)
		if err != nil || ref.Kind == KindBitfield {
			return s, err
		}
		hi, lo := bits.Mul64(s, ref.Count)
		if hi != 0 {
			return 0, &LookupError{Err: ErrBadPath, Query: query, Reason: "array size overflows", Table: t.data.ID}
		}
		return lo, nil
	case KindFunction:
		return 0, nil
	}
	return 0, &LookupError{Err: ErrBadPath, Query: query, Reason: "type of kind " + ref.Kind.String(), Table: t.data.ID}
}

func (t *Table) badPath(path, reason string) *LookupError {
	return &LookupError{Err: ErrBadPath, Query: path, Reason: reason, Table: t.data.ID}
}

func addOffset(off, a, b uint64) (uint64, bool) {
	s, c1 := bits.Add64(off, a, 0)
	s, c2 := bits.Add64(s, b, 0)
	return s, c1 == 0 && c2 == 0
}

// splitIndex splits "Items[3][1]" into "Items" and "[3][1]".
func splitIndex(comp string) (name, idx, err string) {
	i := strings.IndexByte(comp, '[')
	if i < 0 {
		if comp == "" {
			return "", "", "empty component"
		}
		return comp, "", ""
	}
	if i == 0 {
		return "", "", "index without a member name"
	}
	return comp[:i], comp[i:], ""
}

// nextIndex reads one "[n]" from the front of idx.
func nextIndex(idx string) (uint64, string, string) {
	end := strings.IndexByte(idx, ']')
	if len(idx) < 3 || idx[0] != '[' || end < 2 {
		return 0, "", "malformed index " + strconv.Quote(idx)
	}
	n, err := strconv.ParseUint(idx[1:end], 0, 64)
	if err != nil {
		return 0, "", "malformed index " + strconv.Quote(idx[:end+1])
	}
	return n, idx[end+1:], ""
}
