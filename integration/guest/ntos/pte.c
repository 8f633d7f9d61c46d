/*
 * Software PTE formats, built with the _MMPTE bitfields of the PDB, and the
 * L1TF swizzle every invalid PTE goes through.
 *
 * The swizzle, as Windows applies it: an invalid PTE is stored with the
 * mask (MiState.Hardware.InvalidPteMask, the top implemented physical
 * address bit) set, so a speculative walk of it points at no RAM. When the
 * entry's own value already has that bit, SwizzleBit (bit 4) is set
 * instead, to say "keep the mask bit when decoding".
 */
#include "ke.h"

ULONG64 MiSwizzleInvalidPte(ULONG64 value) {
    ULONG64 mask = MiState.Hardware.InvalidPteMask;
    if (!mask) return value;
    return (value & mask) ? (value | SWIZZLE_BIT) : (value | mask);
}

ULONG64 MiUnswizzle(ULONG64 raw) {
    MMPTE pte;
    pte.u.Long = raw;
    if (pte.u.Hard.Valid || pte.u.Soft.SwizzleBit) return raw;
    return raw & ~MiState.Hardware.InvalidPteMask;
}

ULONG64 MiReadPte(const MMPTE *pte) { return MiUnswizzle(pte->u.Long); }

void MiWriteInvalidPte(MMPTE *pte, ULONG64 value) { pte->u.Long = MiSwizzleInvalidPte(value); }

ULONG64 MiMakeTransitionPte(ULONG64 pfn, ULONG protection) {
    MMPTE pte = {0};
    pte.u.Trans.Transition = 1;
    pte.u.Trans.Protection = protection;
    pte.u.Trans.PageFrameNumber = pfn;
    return pte.u.Long;
}

ULONG64 MiMakePagefilePte(ULONG pagefile, ULONG64 offset, ULONG protection) {
    MMPTE pte = {0};
    pte.u.Soft.PageFileLow = pagefile;
    pte.u.Soft.PageFileHigh = offset;
    pte.u.Soft.Protection = protection;
    return pte.u.Long;
}

ULONG64 MiMakeDemandZeroPte(ULONG protection) {
    MMPTE pte = {0};
    pte.u.Soft.Protection = protection;
    return pte.u.Long;
}

ULONG64 MiMakeProtoPointerPte(MMPTE *proto) {
    MMPTE pte = {0};
    pte.u.Proto.Prototype = 1;
    pte.u.Proto.ProtoAddress = proto ? (LONG64)proto : MI_PTE_LOOKUP_NEEDED;
    return pte.u.Long;
}

ULONG64 MiMakeSubsectionPte(SUBSECTION *s, ULONG protection) {
    MMPTE pte = {0};
    pte.u.Subsect.Prototype = 1;
    pte.u.Subsect.Protection = protection;
    pte.u.Subsect.SubsectionAddress = (LONG64)s;
    return pte.u.Long;
}

/* Windows' 5-bit protections: the low 3 bits are the access. */
BOOLEAN MiProtectionWritable(ULONG protection) {
    ULONG a = protection & 7;
    return a == MM_READWRITE || a == 5 || a == MM_EXECUTE_READWRITE || a == 7;
}

BOOLEAN MiProtectionExecutable(ULONG protection) {
    ULONG a = protection & 7;
    return a == 2 || a == MM_EXECUTE_READ || a == MM_EXECUTE_READWRITE || a == 7;
}
