package translate

// The L1TF swizzle. Windows stores every invalid PTE with the top
// implemented physical-address bit set, so a speculative walk of it points
// at no RAM. When the value itself already has that bit (a PFN or a kernel
// pointer that needs it), Windows sets SwizzleBit instead, meaning "the mask
// bits are part of the value". Decoding must therefore clear the mask from
// an invalid entry whose SwizzleBit is clear before any other test, at every
// level, including the test for zero: a swizzled zero PTE is just the mask.

// SwizzleSource is what the caller found in the guest for the mask.
type SwizzleSource struct {
	// HaveInvalidPteMask says the symbols have MiState.Hardware.
	// InvalidPteMask; InvalidPteMask is its value in the guest.
	HaveInvalidPteMask bool
	InvalidPteMask     uint64
	// ImplementedPhysicalBits is KiImplementedPhysicalBits, consulted only
	// when the symbols lack InvalidPteMask.
	ImplementedPhysicalBits int64
}

// SwizzleMask chooses the swizzle mask the way the kernel does:
// InvalidPteMask when the build has it; otherwise
// 1 << (KiImplementedPhysicalBits - 1), where a value <= 0 or >= 64 means
// no swizzling; and never on a build whose _MMPTE_SOFTWARE has no
// SwizzleBit.
func SwizzleMask(l *Layout, s SwizzleSource) uint64 {
	if l.SwizzleBit.Len == 0 {
		return 0
	}
	if s.HaveInvalidPteMask {
		return s.InvalidPteMask
	}
	if s.ImplementedPhysicalBits <= 0 || s.ImplementedPhysicalBits >= 64 {
		return 0
	}
	return 1 << (s.ImplementedPhysicalBits - 1)
}

// unswizzle returns the entry's value and the bits it cleared. Valid
// entries are the hardware's and are never swizzled.
func (d *decoder) unswizzle(raw uint64) (value, cleared uint64) {
	if raw&d.valid != 0 || raw&d.swizzleBit != 0 {
		return raw, 0
	}
	return raw &^ d.mask, raw & d.mask
}
