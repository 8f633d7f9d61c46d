package pdb

import "github.com/frostvmi/frost/symbols"

// Simple type indices (below 0x1000) encode a primitive in the low byte
// and a pointer mode in bits 8..11. Names follow Volatility 3's, so an ISF
// written from a PDB reads the way Volatility users expect.
type simpleType struct {
	name string
	base symbols.BaseType
}

func sb(name string, kind symbols.BaseKind, size uint64, signed bool) simpleType {
	return simpleType{name, symbols.BaseType{Size: size, Signed: signed, Kind: kind}}
}

var simpleTypes = map[uint32]simpleType{
	0x00: sb("void", symbols.BaseVoid, 0, true), // T_NOTYPE
	0x03: sb("void", symbols.BaseVoid, 0, true),
	0x08: sb("HRESULT", symbols.BaseInt, 4, false),
	0x10: sb("char", symbols.BaseChar, 1, true), // signed char
	0x20: sb("unsigned char", symbols.BaseChar, 1, false),
	0x68: sb("char", symbols.BaseChar, 1, true), // int8
	0x69: sb("unsigned char", symbols.BaseChar, 1, false),
	0x70: sb("char", symbols.BaseChar, 1, true), // "really a char"
	0x71: sb("wchar", symbols.BaseInt, 2, true),
	0x7a: sb("char16_t", symbols.BaseInt, 2, false),
	0x7b: sb("char32_t", symbols.BaseInt, 4, false),
	0x7c: sb("char8_t", symbols.BaseChar, 1, false),
	0x11: sb("short", symbols.BaseInt, 2, true),
	0x21: sb("unsigned short", symbols.BaseInt, 2, false),
	0x72: sb("short", symbols.BaseInt, 2, true),
	0x73: sb("unsigned short", symbols.BaseInt, 2, false),
	0x12: sb("long", symbols.BaseInt, 4, true),
	0x22: sb("unsigned long", symbols.BaseInt, 4, false),
	0x74: sb("int", symbols.BaseInt, 4, true),
	0x75: sb("unsigned int", symbols.BaseInt, 4, false),
	0x13: sb("long long", symbols.BaseInt, 8, true),
	0x23: sb("unsigned long long", symbols.BaseInt, 8, false),
	0x76: sb("long long", symbols.BaseInt, 8, true),
	0x77: sb("unsigned long long", symbols.BaseInt, 8, false),
	0x14: sb("int128", symbols.BaseInt, 16, true),
	0x24: sb("unsigned int128", symbols.BaseInt, 16, false),
	0x78: sb("int128", symbols.BaseInt, 16, true),
	0x79: sb("unsigned int128", symbols.BaseInt, 16, false),
	0x46: sb("f16", symbols.BaseFloat, 2, true),
	0x40: sb("f32", symbols.BaseFloat, 4, true),
	0x45: sb("f32pp", symbols.BaseFloat, 4, true),
	0x44: sb("f48", symbols.BaseFloat, 6, true),
	0x41: sb("double", symbols.BaseFloat, 8, true),
	0x42: sb("f80", symbols.BaseFloat, 10, true),
	0x43: sb("f128", symbols.BaseFloat, 16, true),
	0x30: sb("bool", symbols.BaseBool, 1, false),
	0x31: sb("bool16", symbols.BaseBool, 2, false),
	0x32: sb("bool32", symbols.BaseBool, 4, false),
	0x33: sb("bool64", symbols.BaseBool, 8, false),
}

// Pointer modes of a simple type index.
const (
	simpleDirect   = 0x0
	simpleNear32   = 0x4
	simpleFar32    = 0x5
	simpleNear64   = 0x6
	simpleNear128  = 0x7
	simpleModeMask = 0xf00
)

// simpleLookup returns the primitive of a simple index, and whether the
// index is a pointer to it. Unknown primitives read as void.
func simpleLookup(ti uint32) (simpleType, bool) {
	st, ok := simpleTypes[ti&0xff]
	if !ok {
		st = simpleTypes[0x03]
	}
	return st, (ti&simpleModeMask)>>8 != simpleDirect
}
