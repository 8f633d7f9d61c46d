package pdb

// CodeView type leaf kinds, from the CodeView format's public description
// (cvinfo.h and LLVM's CodeView documentation).
const (
	lfModifier   = 0x1001
	lfPointer    = 0x1002
	lfProcedure  = 0x1008
	lfMFunction  = 0x1009
	lfArgList    = 0x1201
	lfFieldList  = 0x1203
	lfBitfield   = 0x1205
	lfMethodList = 0x1206

	lfBClass    = 0x1400
	lfVBClass   = 0x1401
	lfIVBClass  = 0x1402
	lfIndex     = 0x1404
	lfVFuncTab  = 0x1409
	lfEnumerate = 0x1502
	lfArray     = 0x1503
	lfClass     = 0x1504
	lfStructure = 0x1505
	lfUnion     = 0x1506
	lfEnum      = 0x1507
	lfMember    = 0x150d
	lfSTMember  = 0x150e
	lfMethod    = 0x150f
	lfNestType  = 0x1510
	lfOneMethod = 0x1511
	lfInterface = 0x1519

	// Numeric leaves: a value field below 0x8000 is the value itself;
	// otherwise it names one of these and the value follows.
	lfNumeric    = 0x8000
	lfChar       = 0x8000
	lfShort      = 0x8001
	lfUShort     = 0x8002
	lfLong       = 0x8003
	lfULong      = 0x8004
	lfQuadword   = 0x8009
	lfUQuadword  = 0x800a
	lfOctword    = 0x8017
	lfUOctword   = 0x8018
	lfPadMinimum = 0xf0
)

// Class, struct, union and enum property bits.
const (
	propForwardRef    = 0x0080
	propHasUniqueName = 0x0200
)

// numeric reads a numeric leaf. Sizes, offsets and enum values at or above
// 0x8000 are stored this way (_KPCR is 0xb080 bytes). Octwords only fit
// when their high half is the sign extension of the low.
func (r *reader) numeric() (v int64, unsigned bool, ok bool) {
	kind := r.u16()
	if r.err {
		return 0, false, false
	}
	if kind < lfNumeric {
		return int64(kind), true, true
	}
	switch kind {
	case lfChar:
		return int64(int8(r.u8())), false, !r.err
	case lfShort:
		return int64(int16(r.u16())), false, !r.err
	case lfUShort:
		return int64(r.u16()), true, !r.err
	case lfLong:
		return int64(int32(r.u32())), false, !r.err
	case lfULong:
		return int64(r.u32()), true, !r.err
	case lfQuadword:
		return int64(r.u64()), false, !r.err
	case lfUQuadword:
		return int64(r.u64()), true, !r.err
	case lfOctword, lfUOctword:
		lo, hi := r.u64(), r.u64()
		if r.err {
			return 0, false, false
		}
		if kind == lfUOctword {
			return int64(lo), true, hi == 0
		}
		return int64(lo), false, (hi == 0 && int64(lo) >= 0) || (hi == ^uint64(0) && int64(lo) < 0)
	}
	return 0, false, false
}

// unsignedNumeric reads a numeric leaf that must not be negative: a size
// or an offset.
func (r *reader) unsignedNumeric() (uint64, bool) {
	v, unsigned, ok := r.numeric()
	if !ok || (!unsigned && v < 0) {
		r.err = true
		return 0, false
	}
	return uint64(v), true
}
