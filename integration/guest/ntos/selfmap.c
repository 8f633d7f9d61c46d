/*
 * The page-table self-map, the Windows 10 way: one entry of every PML4
 * points at that PML4 itself, at an index drawn at boot in 0x100..0x1FE
 * (0x1FF is the top 512 GiB, which Windows never gives to it), so the page
 * tables of the current address space appear as one 512 GiB window at
 * MmPteBase. The PDEs are the PTEs of that window, and so on up:
 *
 *   PTE of va = MmPteBase + ((va >> 9)  & 0x7FFFFFFFF8)
 *   PDE of va = MmPdeBase + ((va >> 18) & 0x3FFFFFF8)
 *   PPE of va = MmPpeBase + ((va >> 27) & 0x1FFFF8)
 *   PXE of va = MmPxeBase + ((va >> 36) & 0xFF8)
 *
 * The index is a function of the loader's KASLR seed, so a seed reproduces
 * a boot. Each process's PML4 gets its own self entry (MiCreateProcess-
 * AddressSpace); the kernel half is shared, so a kernel VA's tables are
 * reachable through the self-map of any address space.
 */
#include "ke.h"

ULONG64 MmPteBase, MmPdeBase, MmPpeBase, MmPxeBase;
ULONG MiSelfMapIndex;

static ULONG MiTopIndex(ULONG64 va) { return (ULONG)((va >> 39) & 511); }

static ULONG64 MiSeedNext(ULONG64 *state) {
    ULONG64 z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The kernel regions whose top-level slots the self-map must not take. */
static BOOLEAN MiTopIndexTaken(ULONG index) {
    static const ULONG64 regions[] = {MM_POOL_START, MM_PAGED_POOL_START, MM_PFN_DATABASE, KI_USER_SHARED_DATA,
                                      0xfffff80000000000ull /* ntoskrnl and hal (KASLR range) */};
    if (index == MiTopIndex(MmPhysicalMapBase)) return TRUE;
    for (ULONG i = 0; i < sizeof(regions) / sizeof(regions[0]); i++)
        if (index == MiTopIndex(regions[i])) return TRUE;
    return FALSE;
}

/* The self-referencing entry for a PML4 at pml4Pa: valid, writable, kernel
   only, never executable. */
MMPTE MiMakeSelfMapEntry(ULONG64 pml4Pa) { return MiMakeValidPte(pml4Pa, FALSE, TRUE, FALSE); }

/* Draws the index from the seed and installs the entry in the System PML4,
   the one the processor runs on. Called first thing in phase 0. */
void MiInitializeSelfMap(LOADER_PARAMETER_BLOCK *lb) {
    ULONG64 state = lb->Seed ^ 0x53454C464D4150ull; /* "SELFMAP": not the loader's stream */
    ULONG index;
    do index = 0x100 + (ULONG)(MiSeedNext(&state) % 0xFF);
    while (MiTopIndexTaken(index));
    MiSelfMapIndex = index;
    MmPteBase = 0xFFFF000000000000ull | ((ULONG64)index << 39);
    MmPdeBase = MmPteBase + ((ULONG64)index << 30);
    MmPpeBase = MmPdeBase + ((ULONG64)index << 21);
    MmPxeBase = MmPpeBase + ((ULONG64)index << 12);
    MMPTE *pml4 = MmGetVirtualForPhysical(lb->Pml4Physical);
    pml4[index] = MiMakeSelfMapEntry(lb->Pml4Physical);
}

/* The entry mapping va at level (0 = PTE .. 3 = PXE) in the current
   address space, through the self-map. */
MMPTE *MiSelfMapEntry(ULONG64 va, int level) {
    switch (level) {
    case 0: return (MMPTE *)(MmPteBase + ((va >> 9) & 0x7FFFFFFFF8ull));
    case 1: return (MMPTE *)(MmPdeBase + ((va >> 18) & 0x3FFFFFF8ull));
    case 2: return (MMPTE *)(MmPpeBase + ((va >> 27) & 0x1FFFF8ull));
    default: return (MMPTE *)(MmPxeBase + ((va >> 36) & 0xFF8ull));
    }
}
