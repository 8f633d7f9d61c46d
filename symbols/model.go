package symbols

// Data is the plain model both readers produce and the ISF writer
// consumes. It mirrors ISF's four tables, with symbol addresses as RVAs.
// Build a queryable *Table from it with New; do not change a Data after
// handing it to New.
type Data struct {
	ID Identity
	// Machine is the PE machine type (0x8664 for x64), as ISF's
	// metadata.windows.pdb.machine_type records it.
	Machine uint16
	// ImageSize is where the image's last section ends, from the PDB's
	// section headers; 0 when not known (ISF does not record it). An RVA
	// at or past it lies in no part of this module.
	ImageSize uint64

	BaseTypes map[string]BaseType
	UserTypes map[string]*UserType
	Enums     map[string]*Enum
	Symbols   map[string]Symbol
}

// BaseKind is the kind of a base type, as ISF names it.
type BaseKind string

// The base kinds ISF allows.
const (
	BaseInt   BaseKind = "int"
	BaseChar  BaseKind = "char"
	BaseFloat BaseKind = "float"
	BaseBool  BaseKind = "bool"
	BaseVoid  BaseKind = "void"
)

// PointerType is the base type whose size is the size of a pointer.
const PointerType = "pointer"

// BaseType is a primitive type: an integer, character, float, bool or
// void, plus the pseudo-type "pointer" that sizes every pointer.
type BaseType struct {
	Size   uint64
	Signed bool
	Kind   BaseKind
	// BigEndian is false on every Windows target.
	BigEndian bool
}

// Kind says what a type reference or a resolved field is.
type Kind uint8

// Kinds of type references. Struct, Union and Class name a UserType.
const (
	KindInvalid Kind = iota
	KindBase
	KindStruct
	KindUnion
	KindClass
	KindEnum
	KindPointer
	KindArray
	KindBitfield
	KindFunction
)

var kindNames = [...]string{
	KindInvalid:  "invalid",
	KindBase:     "base",
	KindStruct:   "struct",
	KindUnion:    "union",
	KindClass:    "class",
	KindEnum:     "enum",
	KindPointer:  "pointer",
	KindArray:    "array",
	KindBitfield: "bitfield",
	KindFunction: "function",
}

// String returns ISF's name for the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// ParseKind maps ISF's kind names back to a Kind.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s && Kind(k) != KindInvalid {
			return Kind(k), true
		}
	}
	return KindInvalid, false
}

// IsUserType reports whether k names a UserType.
func (k Kind) IsUserType() bool { return k == KindStruct || k == KindUnion || k == KindClass }

// TypeRef is a type as a member, pointer, array or symbol refers to it.
type TypeRef struct {
	Kind Kind
	// Name is set for KindBase, KindEnum and the user-type kinds.
	Name string
	// Sub is the pointee (KindPointer), the element (KindArray) or the
	// storage type (KindBitfield: a base type or an enum).
	Sub *TypeRef
	// Count is the element count of a KindArray.
	Count uint64
	// BitPosition and BitLength place a KindBitfield within its storage,
	// counting from the least significant bit.
	BitPosition uint32
	BitLength   uint32
}

// UserType is a struct, union or class.
type UserType struct {
	Kind   Kind // KindStruct, KindUnion or KindClass
	Size   uint64
	Fields []Member
}

// Member is one field of a UserType. Offset is in bytes from the start of
// the containing type; a bitfield's bits are placed by its TypeRef.
type Member struct {
	Name   string
	Offset uint64
	Type   TypeRef
	// Anonymous marks an unnamed struct or union member whose own members
	// are reachable as if they were the parent's (ISF's "anonymous").
	Anonymous bool
}

// Enum is an enumeration with its underlying base type.
type Enum struct {
	Base      string // a BaseTypes name
	Size      uint64
	Constants map[string]int64
}

// Symbol is a public symbol or global.
type Symbol struct {
	Address uint64 // RVA
	// Type is the symbol's type when the source gives one (PDB global
	// data, some ISF symbols), else nil.
	Type *TypeRef
	// LinkageName is the decorated name when it differs from the key.
	LinkageName string
}
