package pdb

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/frostvmi/frost/symbols"
)

// udtHeader is the common part of LF_CLASS, LF_STRUCTURE, LF_INTERFACE,
// LF_UNION and LF_ENUM records.
type udtHeader struct {
	leaf      uint16
	prop      uint16
	fieldList uint32
	size      uint64 // not for enums
	utype     uint32 // enums: the underlying type
	name      string
	unique    string
}

func (h *udtHeader) forward() bool { return h.prop&propForwardRef != 0 }

// namespace keeps structs (and classes), unions and enums apart when
// resolving forward references, as C tags would be.
func (h *udtHeader) namespace() string {
	switch h.leaf {
	case lfUnion:
		return "u:"
	case lfEnum:
		return "e:"
	}
	return "s:"
}

func (h *udtHeader) kind() symbols.Kind {
	switch h.leaf {
	case lfUnion:
		return symbols.KindUnion
	case lfClass:
		return symbols.KindClass
	case lfEnum:
		return symbols.KindEnum
	}
	return symbols.KindStruct
}

// anonymous reports a name compilers give to an unnamed struct, union or
// enum. Such names are shared by unrelated types, so they never resolve a
// forward reference, and each definition gets a name of its own.
func anonymous(name string) bool {
	return name == "" || name == "<unnamed-tag>" || name == "__unnamed" || name == "<anonymous-tag>" ||
		strings.HasSuffix(name, "::<unnamed-tag>") || strings.HasSuffix(name, "::__unnamed") ||
		strings.HasPrefix(name, "<unnamed-type-")
}

// anonymousName is the name an anonymous type gets in the model and in a
// written ISF, after Volatility 3's convention.
func anonymousName(ti uint32) string { return fmt.Sprintf("__anonymous_%x", ti) }

func parseUDT(rec typeRecord) (*udtHeader, bool) {
	h := &udtHeader{leaf: rec.kind}
	r := reader{b: rec.data}
	switch rec.kind {
	case lfClass, lfStructure, lfInterface:
		r.u16() // member count
		h.prop = r.u16()
		h.fieldList = r.u32()
		r.u32() // derived-from list
		r.u32() // vtable shape
		h.size, _ = r.unsignedNumeric()
	case lfUnion:
		r.u16()
		h.prop = r.u16()
		h.fieldList = r.u32()
		h.size, _ = r.unsignedNumeric()
	case lfEnum:
		r.u16()
		h.prop = r.u16()
		h.utype = r.u32()
		h.fieldList = r.u32()
	default:
		return nil, false
	}
	h.name = r.cstring()
	if h.prop&propHasUniqueName != 0 {
		h.unique = r.cstring()
	}
	return h, !r.err
}

// maxRefDepth bounds chains of pointers, arrays and modifiers, which a
// malformed file may make cyclic or absurdly long. It stays below the
// nesting ISF's reader and writer accept (64), so whatever is read can be
// written as ISF.
const maxRefDepth = 48

// typeConv turns TPI records into the model.
type typeConv struct {
	recs    []typeRecord
	begin   uint32
	d       *symbols.Data
	ptrSize uint64

	hdrs       []*udtHeader      // by ti-begin; nil for other records
	defs       map[string]uint32 // namespace+unique name → definition
	defsByName map[string]uint32 // namespace+name → first definition
	names      map[uint32]string // definition → model name
	udtSize    map[string]uint64
	enumSize   map[string]uint64

	refs  []*symbols.TypeRef // memo by ti-begin
	busy  []bool
	depth int

	notes []string
	// members is what is left of the budget of members and enumerators
	// all definitions may produce together. Definitions may share a field
	// list, so without it a small file could expand quadratically.
	members int
}

var voidRef = &symbols.TypeRef{Kind: symbols.KindBase, Name: "void"}

func newTypeConv(recs []typeRecord, begin uint32, d *symbols.Data, ptrSize uint64) *typeConv {
	return &typeConv{
		recs: recs, begin: begin, d: d, ptrSize: ptrSize,
		hdrs:       make([]*udtHeader, len(recs)),
		defs:       map[string]uint32{},
		defsByName: map[string]uint32{},
		names:      map[uint32]string{},
		udtSize:    map[string]uint64{},
		enumSize:   map[string]uint64{},
		refs:       make([]*symbols.TypeRef, len(recs)),
		busy:       make([]bool, len(recs)),
		members:    memberBudget(recs),
	}
}

// memberBudget allows every member entry in the file to be used by four
// definitions, and at least 1<<14 members in all.
func memberBudget(recs []typeRecord) int {
	n := 0
	for _, r := range recs {
		if r.kind == lfFieldList {
			n += len(r.data)
		}
	}
	return max(1<<14, n/12*4)
}

func (c *typeConv) note(format string, args ...any) {
	if len(c.notes) < 100 {
		c.notes = append(c.notes, fmt.Sprintf(format, args...))
	}
}

func (c *typeConv) record(ti uint32) (typeRecord, bool) {
	if ti < c.begin || uint64(ti-c.begin) >= uint64(len(c.recs)) {
		return typeRecord{}, false
	}
	return c.recs[ti-c.begin], true
}

// convert fills d's user types and enums.
func (c *typeConv) convert() {
	// Pass 1: headers, and definitions by unique name and by name.
	for i, rec := range c.recs {
		h, ok := parseUDT(rec)
		if !ok {
			if h != nil {
				c.note("type %#x: truncated %#x record", c.begin+uint32(i), rec.kind)
			}
			continue
		}
		c.hdrs[i] = h
		if h.forward() {
			continue
		}
		ti := c.begin + uint32(i)
		if h.unique != "" {
			if _, dup := c.defs[h.namespace()+h.unique]; !dup {
				c.defs[h.namespace()+h.unique] = ti
			}
		}
		if !anonymous(h.name) {
			if _, dup := c.defsByName[h.namespace()+h.name]; !dup {
				c.defsByName[h.namespace()+h.name] = ti
			}
		}
	}
	// Pass 2: a model name per definition. The first definition of a name
	// owns it; later ones (a header compiled differently) alias it.
	var owners []uint32
	for i, h := range c.hdrs {
		if h == nil || h.forward() {
			continue
		}
		ti := c.begin + uint32(i)
		name := h.name
		if anonymous(name) {
			name = anonymousName(ti)
		}
		c.names[ti] = name
		if h.leaf == lfEnum {
			if _, taken := c.enumSize[name]; !taken {
				c.enumSize[name] = c.size(c.ref(h.utype))
				owners = append(owners, ti)
			}
		} else if _, taken := c.udtSize[name]; !taken {
			c.udtSize[name] = h.size
			owners = append(owners, ti)
		}
	}
	// Pass 3: members and constants.
	for _, ti := range owners {
		h := c.hdrs[ti-c.begin]
		name := c.names[ti]
		if h.leaf == lfEnum {
			c.d.Enums[name] = c.enumeration(h)
		} else {
			c.d.UserTypes[name] = &symbols.UserType{Kind: h.kind(), Size: h.size, Fields: c.fields(ti, h)}
		}
	}
}

// resolve returns the definition a struct, union or enum record stands
// for: itself, or what its forward reference names (by unique name when
// it has one, else by name).
func (c *typeConv) resolve(ti uint32) (uint32, bool) {
	if ti < c.begin || uint64(ti-c.begin) >= uint64(len(c.hdrs)) {
		return 0, false
	}
	h := c.hdrs[ti-c.begin]
	if h == nil {
		return 0, false
	}
	if !h.forward() {
		return ti, true
	}
	if h.unique != "" {
		if d, ok := c.defs[h.namespace()+h.unique]; ok {
			return d, true
		}
	}
	if !anonymous(h.name) {
		if d, ok := c.defsByName[h.namespace()+h.name]; ok {
			return d, true
		}
	}
	return 0, false
}

// udtRef refers to a struct, union or enum record by its model name. An
// incomplete type keeps its own name and has no entry in the model.
func (c *typeConv) udtRef(ti uint32) *symbols.TypeRef {
	h := c.hdrs[ti-c.begin]
	if d, ok := c.resolve(ti); ok {
		return &symbols.TypeRef{Kind: c.hdrs[d-c.begin].kind(), Name: c.names[d]}
	}
	name := h.name
	if anonymous(name) {
		name = anonymousName(ti)
	}
	return &symbols.TypeRef{Kind: h.kind(), Name: name}
}

// ref converts a type index into a type reference.
func (c *typeConv) ref(ti uint32) *symbols.TypeRef {
	if ti < c.begin {
		return c.simple(ti)
	}
	rec, ok := c.record(ti)
	if !ok {
		c.note("type index %#x is past the %d records", ti, len(c.recs))
		return voidRef
	}
	i := ti - c.begin
	if c.refs[i] != nil {
		return c.refs[i]
	}
	if c.busy[i] || c.depth >= maxRefDepth {
		c.note("type %#x refers to itself or nests too deeply", ti)
		return voidRef
	}
	c.busy[i] = true
	c.depth++
	out := c.convertRef(ti, rec)
	c.depth--
	c.busy[i] = false
	c.refs[i] = out
	return out
}

func (c *typeConv) convertRef(ti uint32, rec typeRecord) *symbols.TypeRef {
	r := reader{b: rec.data}
	switch rec.kind {
	case lfModifier:
		// const and volatile do not change a layout.
		return c.ref(r.u32())
	case lfPointer:
		return &symbols.TypeRef{Kind: symbols.KindPointer, Sub: c.ref(r.u32())}
	case lfArray:
		elem := c.ref(r.u32())
		r.u32() // index type
		total, ok := r.unsignedNumeric()
		if !ok {
			c.note("type %#x: array size is not a numeric leaf", ti)
		}
		var count uint64
		if es := c.size(elem); es > 0 {
			count = total / es
		}
		return &symbols.TypeRef{Kind: symbols.KindArray, Sub: elem, Count: count}
	case lfBitfield:
		under := c.ref(r.u32())
		length, pos := r.u8(), r.u8()
		if r.err || length == 0 || int(pos)+int(length) > 128 ||
			(under.Kind != symbols.KindBase && under.Kind != symbols.KindEnum) {
			c.note("type %#x: bitfield of %d bits at bit %d of a %v: not a bitfield", ti, length, pos, under.Kind)
			return voidRef
		}
		return &symbols.TypeRef{Kind: symbols.KindBitfield, Sub: under, BitPosition: uint32(pos), BitLength: uint32(length)}
	case lfClass, lfStructure, lfInterface, lfUnion, lfEnum:
		if c.hdrs[ti-c.begin] == nil {
			return voidRef
		}
		return c.udtRef(ti)
	case lfProcedure, lfMFunction:
		return &symbols.TypeRef{Kind: symbols.KindFunction}
	}
	c.note("type %#x: a %#x record used as a type", ti, rec.kind)
	return voidRef
}

// simple converts a simple type index, registering its base type.
func (c *typeConv) simple(ti uint32) *symbols.TypeRef {
	st, isPtr := simpleLookup(ti)
	if _, ok := c.d.BaseTypes[st.name]; !ok {
		c.d.BaseTypes[st.name] = st.base
	}
	base := &symbols.TypeRef{Kind: symbols.KindBase, Name: st.name}
	if isPtr {
		return &symbols.TypeRef{Kind: symbols.KindPointer, Sub: base}
	}
	return base
}

// size is a type reference's size from the records read so far.
func (c *typeConv) size(ref *symbols.TypeRef) uint64 {
	for depth := 0; depth < maxRefDepth; depth++ {
		switch ref.Kind {
		case symbols.KindBase:
			return c.d.BaseTypes[ref.Name].Size
		case symbols.KindPointer:
			return c.ptrSize
		case symbols.KindStruct, symbols.KindUnion, symbols.KindClass:
			return c.udtSize[ref.Name]
		case symbols.KindEnum:
			return c.enumSize[ref.Name]
		case symbols.KindBitfield:
			ref = ref.Sub
		case symbols.KindArray:
			hi, lo := bits.Mul64(ref.Count, c.size(ref.Sub))
			if hi != 0 {
				return 0
			}
			return lo
		default:
			return 0
		}
	}
	return 0
}
