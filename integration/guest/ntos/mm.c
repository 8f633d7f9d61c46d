/*
 * The memory manager's core: page tables, process address spaces and
 * discarding INIT. The pool is in pool.c, physical pages in pfn.c, VADs
 * in vad.c, faults in fault.c, sections in section.c, trimming and paging
 * in wsmgr.c.
 *
 * Kernel space layout:
 *   0xffff880000000000  every physical page (winload's 2 MiB mappings)
 *   0xffffa00000000000  nonpaged pool, 4 KiB pages mapped on demand; not
 *                       identity-mapped, so a pool VA read as a physical
 *                       address finds nothing
 *   0xffffa00020000000  paged pool (prototype PTEs, directories, names)
 *   0xffffa00100000000  the PFN database
 *   0xfffff80000000000+ ntoskrnl.exe and hal.dll at their KASLR bases
 */
#include "ke.h"
#include "pool.h"

ULONG KiImplementedPhysicalBits;
MI_SYSTEM_INFORMATION MiState;
MI_PARTITION MiSystemPartition;

ULONG64 MmSystemDirectoryTableBase;
ULONG64 MmPhysicalMapBase;
static ULONG64 MmPhysicalMapSize;

extern char __ImageBase[];

PVOID MmGetVirtualForPhysical(ULONG64 pa) { return (PVOID)(MmPhysicalMapBase + pa); }

static MMPTE *MiTableAt(ULONG64 tablePa) { return (MMPTE *)MmGetVirtualForPhysical(tablePa); }

/* Returns the next level's table for entry, creating it when absent. A
   user page-table page that was trimmed (aggressive trim) is brought back
   first, so callers always get a resident table. A user entry is passed
   as its system alias (MiCurrentEntry), which MMPFN.PteAddress records. */
static ULONG64 MiNextLevel(MMPTE *entry, BOOLEAN user) {
    if (user && !entry->u.Hard.Valid && MiReadPte(entry) != 0) MiMakePageTableResident(entry);
    if (!entry->u.Hard.Valid) {
        MMPTE pde = {0};
        pde.u.Hard.Valid = 1;
        pde.u.Hard.Dirty1 = 1; /* bit 1: the hardware's R/W */
        pde.u.Hard.Write = 1;
        pde.u.Hard.Owner = user;
        pde.u.Hard.Accessed = 1;
        ULONG64 pa = MiAllocatePhysicalPage();
        pde.u.Hard.PageFrameNumber = pa >> PAGE_SHIFT;
        if (user) MI_PFN(pa >> PAGE_SHIFT)->PteAddress = entry;
        *entry = pde;
    } else if (user && !entry->u.Hard.Owner) {
        entry->u.Hard.Owner = 1;
    }
    return (ULONG64)entry->u.Hard.PageFrameNumber << PAGE_SHIFT;
}

static ULONG MiIndex(ULONG64 va, int level) { return (ULONG)((va >> (12 + 9 * level)) & 511); }

MMPTE MiMakeValidPte(ULONG64 pa, BOOLEAN user, BOOLEAN write, BOOLEAN execute) {
    MMPTE pte = {0};
    pte.u.Hard.Valid = 1;
    /* Windows' layout: Dirty1 (bit 1) is the hardware's R/W bit, Write
       (bit 11) the software record of write permission. */
    pte.u.Hard.Dirty1 = write;
    pte.u.Hard.Write = write;
    pte.u.Hard.Owner = user;
    pte.u.Hard.Accessed = 1;
    pte.u.Hard.NoExecute = !execute;
    pte.u.Hard.PageFrameNumber = pa >> PAGE_SHIFT;
    return pte;
}

/* ---- finding page-table entries -------------------------------------------
 * The tables of the address space the processor runs on are found through
 * the self-map (selfmap.c), as Windows' MiGetPteAddress finds them; a kernel
 * VA's always are, since the kernel half is shared. A kernel entry is
 * returned as its self-map address. A user entry is returned as its system
 * alias, the same entry seen through the physical map: MMPFN.PteAddress
 * must stay valid in every address space, because mini-NT's modified page
 * writer and standby-page reuse rewrite PTEs of processes that are not
 * current (where Windows would attach to the process). The tables of
 * another process's user space are walked through the physical map, the
 * counterpart of Windows' hyperspace.
 */

static BOOLEAN MiIsCurrentSpace(ULONG64 dtb, ULONG64 va) {
    return va >= MM_SYSTEM_RANGE_START || dtb == (__readcr3() & ~0xfffull);
}

/* The entry at level for va in the current space, found through the
   self-map; its parent entries must be valid. */
static MMPTE *MiCurrentEntry(ULONG64 va, int level) {
    if (va >= MM_SYSTEM_RANGE_START) return MiSelfMapEntry(va, level);
    ULONG64 table = level == 3 ? __readcr3() & ~0xfffull
                               : (ULONG64)MiSelfMapEntry(va, level + 1)->u.Hard.PageFrameNumber << PAGE_SHIFT;
    return &MiTableAt(table)[MiIndex(va, level)];
}

/* The entry that maps va at level (0 = PTE), creating the tables above it. */
MMPTE *MiGetPteAddressCreate(ULONG64 dtb, ULONG64 va, int level) {
    BOOLEAN user = va < MM_USER_PROBE_ADDRESS;
    if (!MiIsCurrentSpace(dtb, va)) {
        ULONG64 table = dtb;
        for (int l = 3; l > level; l--) table = MiNextLevel(&MiTableAt(table)[MiIndex(va, l)], user);
        return &MiTableAt(table)[MiIndex(va, level)];
    }
    for (int l = 3; l > level; l--) {
        MMPTE *e = MiCurrentEntry(va, l);
        /* A new kernel top-level entry would reach only this PML4: every
           one exists before the first process does (MmInitSystem). */
        if (!user && l == 3 && !e->u.Hard.Valid && PsInitialSystemProcess)
            KeBugCheckEx(NO_PAGES_AVAILABLE, 2, va, 0, 0);
        MiNextLevel(e, user);
    }
    return MiCurrentEntry(va, level);
}

/* The entry that maps va at level, or NULL when a table above it is not
   resident. Never creates anything. */
MMPTE *MiGetPteAddress(ULONG64 dtb, ULONG64 va, int level) {
    if (!MiIsCurrentSpace(dtb, va)) {
        ULONG64 table = dtb;
        for (int l = 3; l > level; l--) {
            MMPTE *e = &MiTableAt(table)[MiIndex(va, l)];
            if (!e->u.Hard.Valid || e->u.Hard.LargePage) return NULL;
            table = (ULONG64)e->u.Hard.PageFrameNumber << PAGE_SHIFT;
        }
        return &MiTableAt(table)[MiIndex(va, level)];
    }
    for (int l = 3; l > level; l--) {
        MMPTE *e = MiSelfMapEntry(va, l);
        if (!e->u.Hard.Valid || e->u.Hard.LargePage) return NULL;
    }
    return MiCurrentEntry(va, level);
}

NTSTATUS MiMapPage(ULONG64 dtb, ULONG64 va, ULONG64 pa, BOOLEAN user, BOOLEAN write, BOOLEAN execute) {
    MMPTE *pte = MiGetPteAddressCreate(dtb, va, 0);
    *pte = MiMakeValidPte(pa, user, write, execute);
    __invlpg(va);
    return STATUS_SUCCESS;
}

/* Device memory (a NIC's registers) is mapped from here on, uncached, in
   the pool's top-level entry, so every process sees it (a new kernel
   top-level entry would reach only the current PML4). Mappings are never
   undone: mini-NT's devices stay for the life of the system. */
#define MM_IO_SPACE_START 0xffffa00200000000ull
static ULONG64 MiIoSpaceNext = MM_IO_SPACE_START;

PVOID MmMapIoSpace(ULONG64 pa, SIZE_T size) {
    ULONG64 first = pa & ~(ULONG64)(PAGE_SIZE - 1);
    ULONG64 pages = ((pa & (PAGE_SIZE - 1)) + size + PAGE_SIZE - 1) >> PAGE_SHIFT;
    ULONG64 va = MiIoSpaceNext;
    MiIoSpaceNext += (pages + 1) << PAGE_SHIFT; /* a guard page between mappings */
    for (ULONG64 i = 0; i < pages; i++) {
        MMPTE *pte = MiGetPteAddressCreate(MmSystemDirectoryTableBase, va + (i << PAGE_SHIFT), 0);
        MMPTE v = MiMakeValidPte(first + (i << PAGE_SHIFT), FALSE, TRUE, FALSE);
        v.u.Hard.CacheDisable = 1;
        v.u.Hard.WriteThrough = 1;
        *pte = v;
        __invlpg(va + (i << PAGE_SHIFT));
    }
    return (PVOID)(va + (pa & (PAGE_SIZE - 1)));
}

/* Walks dtb for va: the leaf entry, or NULL when a level is not present.
   *size receives the page size the leaf maps. */
static MMPTE *MiWalk(ULONG64 dtb, ULONG64 va, ULONG64 *size) {
    BOOLEAN current = MiIsCurrentSpace(dtb, va);
    ULONG64 table = dtb;
    for (int level = 3; level >= 0; level--) {
        MMPTE *e = current ? MiSelfMapEntry(va, level) : &MiTableAt(table)[MiIndex(va, level)];
        if (!e->u.Hard.Valid) return NULL;
        if (level == 0 || ((level == 1 || level == 2) && e->u.Hard.LargePage)) {
            *size = 1ull << (12 + 9 * level);
            return e;
        }
        table = (ULONG64)e->u.Hard.PageFrameNumber << PAGE_SHIFT;
    }
    return NULL;
}

ULONG64 MmGetPhysicalAddress(ULONG64 dtb, ULONG64 va) {
    ULONG64 size;
    MMPTE *e = MiWalk(dtb, va, &size);
    if (!e) return ~0ull;
    return (((ULONG64)e->u.Hard.PageFrameNumber << PAGE_SHIFT) & ~(size - 1)) | (va & (size - 1));
}

void MiUnmapPage(ULONG64 dtb, ULONG64 va) {
    ULONG64 size;
    MMPTE *e = MiWalk(dtb, va, &size);
    if (e && size == PAGE_SIZE) {
        e->u.Long = 0;
        __invlpg(va);
    }
}

/* Makes a user range usable by the kernel: every page must lie in user
   space and be resident (faulting it in as the CPU would), and writable
   when asked. The kernel is not preemptible, so the pages stay resident
   for the rest of the system service. */
BOOLEAN MmProbeUserRange(const void *p, SIZE_T len, BOOLEAN write) {
    ULONG64 start = (ULONG64)p, end = start + len;
    if (end < start || end > MM_USER_PROBE_ADDRESS) return FALSE;
    ULONG64 dtb = __readcr3() & ~0xfffull;
    for (ULONG64 va = start & ~(PAGE_SIZE - 1); va < end; va += PAGE_SIZE) {
        MMPTE *e = MiGetPteAddress(dtb, va, 0);
        if (e && e->u.Hard.Valid && e->u.Hard.Owner && (!write || e->u.Hard.Dirty1)) continue;
        if (!NT_SUCCESS(MmAccessFault(va, write, FALSE))) return FALSE;
    }
    return TRUE;
}

ULONG64 MiCreateProcessAddressSpace(void) {
    ULONG64 pml4 = MiAllocatePhysicalPage();
    MMPTE *dst = MiTableAt(pml4), *src = MiTableAt(MmSystemDirectoryTableBase);
    /* The kernel half is shared: every top-level kernel table exists before
       the first process does (MmInitSystem), so later kernel mappings show
       up in every address space. */
    for (int i = 256; i < 512; i++) dst[i] = src[i];
    /* ...except the self-map entry, which names this PML4 itself. */
    dst[MiSelfMapIndex] = MiMakeSelfMapEntry(pml4);
    KiMapUserSharedData(pml4);
    return pml4;
}

/* The pool is in pool.c. */

/* ---- initialisation ------------------------------------------------------ */

void MmInitSystem(LOADER_PARAMETER_BLOCK *lb) {
    MmPhysicalMapBase = lb->PhysicalMapBase;
    MmPhysicalMapSize = lb->PhysicalMapSize;
    MmSystemDirectoryTableBase = lb->Pml4Physical;
    MiInitializeSelfMap(lb);

    /* The physical address width and the PTE swizzle mask, as Windows
       computes them for L1TF: the top implemented physical address bit.
       With the mitigation off (noswizzle) the mask is 0. */
    ULONG eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x80000008u), "c"(0));
    KiImplementedPhysicalBits = eax & 0xff;
    MiState.Hardware.PhysicalAddressBits = KiImplementedPhysicalBits;
    MiState.Hardware.InvalidPteMask =
        (lb->Flags & LOADER_FLAG_NOSWIZZLE) ? 0 : 1ull << (KiImplementedPhysicalBits - 1);

    MiInitializePfnDatabase(lb);

    /* The identity map was winload's, for the switch to long mode only. */
    MiSelfMapEntry(0, 3)->u.Long = 0;
    /* The top-level tables of pool and of the shared user data page exist
       before any process copies the kernel half. */
    MiNextLevel(MiSelfMapEntry(MM_POOL_START, 3), FALSE);
    MiNextLevel(MiSelfMapEntry(MM_PAGED_POOL_START, 3), FALSE);
    __writecr3(MmSystemDirectoryTableBase);
    KiInitializeUserSharedData(lb);

    MiState.Hardware.TotalPagesAllowed = MiSystemPartition.Vp.NumberOfPhysicalPages;
    MiState.SystemVaStart = MM_POOL_START;
    ExInitializePoolBigPageTable();
}

/* Unmaps ntoskrnl's INIT section when Phase 1 ends, as Windows does, and
   gives its pages back. */
void MiFreeInitializationCode(void) {
    UCHAR *base = (UCHAR *)__ImageBase;
    UCHAR *nt = base + *(ULONG *)(base + 0x3c);
    USHORT nsec = *(USHORT *)(nt + 6);
    UCHAR *sec = nt + 24 + *(USHORT *)(nt + 20);
    for (USHORT i = 0; i < nsec; i++, sec += 40) {
        if (RtlCompareMemory(sec, "INIT\0\0\0\0", 8) != 0) continue;
        ULONG size = *(ULONG *)(sec + 8), rva = *(ULONG *)(sec + 12);
        ULONG64 start = (ULONG64)base + rva;
        for (ULONG64 va = start; va < start + size; va += PAGE_SIZE) {
            ULONG64 pa = MmGetPhysicalAddress(MmSystemDirectoryTableBase, va);
            MiUnmapPage(MmSystemDirectoryTableBase, va);
            if (pa != ~0ull) MiInsertPageInFreeList(pa >> PAGE_SHIFT);
        }
        DbgPrint("frost-guest: init-discarded start=0x%llx size=0x%x\n", start, size);
    }
}
