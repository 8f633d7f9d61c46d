/*
 * The memory manager, boot-path part: physical pages, page tables, the
 * nonpaged pool, process address spaces, VADs and discarding INIT.
 *
 * Kernel space layout:
 *   0xffff880000000000  every physical page (winload's 2 MiB mappings)
 *   0xffffa00000000000  nonpaged pool, 4 KiB pages mapped on demand; not
 *                       identity-mapped, so a pool VA read as a physical
 *                       address finds nothing
 *   0xfffff80000000000+ ntoskrnl.exe and hal.dll at their KASLR bases
 */
#include "ke.h"

ULONG KiImplementedPhysicalBits;
MI_SYSTEM_INFORMATION MiState;
MI_PARTITION MiSystemPartition;

ULONG64 MmSystemDirectoryTableBase;
ULONG64 MmPhysicalMapBase;
static ULONG64 MmPhysicalMapSize;
static ULONG64 MiFreePageListHead; /* physical address; 0 ends the list */
static ULONG64 MiAvailablePages;

extern char __ImageBase[];

PVOID MmGetVirtualForPhysical(ULONG64 pa) { return (PVOID)(MmPhysicalMapBase + pa); }

static void MiFreePhysicalPage(ULONG64 pa) {
    *(ULONG64 *)MmGetVirtualForPhysical(pa) = MiFreePageListHead;
    MiFreePageListHead = pa;
    MiAvailablePages++;
}

ULONG64 MiAllocatePhysicalPage(void) {
    ULONG64 pa = MiFreePageListHead;
    if (!pa) KeBugCheckEx(NO_PAGES_AVAILABLE, MiAvailablePages, 0, 0, 0);
    MiFreePageListHead = *(ULONG64 *)MmGetVirtualForPhysical(pa);
    MiAvailablePages--;
    memset(MmGetVirtualForPhysical(pa), 0, PAGE_SIZE);
    return pa;
}

static MMPTE *MiTableAt(ULONG64 tablePa) { return (MMPTE *)MmGetVirtualForPhysical(tablePa); }

/* Returns the next level's table for entry, creating it when absent. */
static ULONG64 MiNextLevel(MMPTE *entry, BOOLEAN user) {
    if (!entry->u.Hard.Valid) {
        MMPTE pde = {0};
        pde.u.Hard.Valid = 1;
        pde.u.Hard.Dirty1 = 1; /* bit 1: the hardware's R/W */
        pde.u.Hard.Write = 1;
        pde.u.Hard.Owner = user;
        pde.u.Hard.PageFrameNumber = MiAllocatePhysicalPage() >> PAGE_SHIFT;
        *entry = pde;
    } else if (user && !entry->u.Hard.Owner) {
        entry->u.Hard.Owner = 1;
    }
    return (ULONG64)entry->u.Hard.PageFrameNumber << PAGE_SHIFT;
}

static ULONG MiIndex(ULONG64 va, int level) { return (ULONG)((va >> (12 + 9 * level)) & 511); }

NTSTATUS MiMapPage(ULONG64 dtb, ULONG64 va, ULONG64 pa, BOOLEAN user, BOOLEAN write, BOOLEAN execute) {
    ULONG64 table = dtb;
    for (int level = 3; level > 0; level--) {
        MMPTE *e = &MiTableAt(table)[MiIndex(va, level)];
        if (e->u.Hard.Valid && e->u.Hard.LargePage) return STATUS_INVALID_PARAMETER;
        table = MiNextLevel(e, user);
    }
    MMPTE pte = {0};
    pte.u.Hard.Valid = 1;
    /* Windows' layout: Dirty1 (bit 1) is the hardware's R/W bit, Write
       (bit 11) the software record of write permission. */
    pte.u.Hard.Dirty1 = write;
    pte.u.Hard.Write = write;
    pte.u.Hard.Owner = user;
    pte.u.Hard.Accessed = 1;
    pte.u.Hard.Dirty = write;
    pte.u.Hard.NoExecute = !execute;
    pte.u.Hard.PageFrameNumber = pa >> PAGE_SHIFT;
    MiTableAt(table)[MiIndex(va, 0)] = pte;
    __invlpg(va);
    return STATUS_SUCCESS;
}

/* Walks dtb for va: the leaf entry, or NULL when a level is not present.
   *size receives the page size the leaf maps. */
static MMPTE *MiWalk(ULONG64 dtb, ULONG64 va, ULONG64 *size) {
    ULONG64 table = dtb;
    for (int level = 3; level >= 0; level--) {
        MMPTE *e = &MiTableAt(table)[MiIndex(va, level)];
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

/* A user buffer is usable when every page is a present user page (and
   writable when asked). mini-NT's kernel touches user memory directly, so
   this check stands where Windows' probe-and-catch would. */
BOOLEAN MmIsUserRangeValid(const void *p, SIZE_T len, BOOLEAN write) {
    ULONG64 start = (ULONG64)p, end = start + len;
    if (end < start || end > MM_USER_PROBE_ADDRESS) return FALSE;
    ULONG64 dtb = __readcr3() & ~0xfffull;
    for (ULONG64 va = start & ~(PAGE_SIZE - 1); va < end; va += PAGE_SIZE) {
        ULONG64 size;
        MMPTE *e = MiWalk(dtb, va, &size);
        if (!e || !e->u.Hard.Owner || (write && !e->u.Hard.Dirty1)) return FALSE;
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
    return pml4;
}

/* ---- nonpaged pool ------------------------------------------------------ */

typedef struct _POOL_HEADER {
    ULONG BlockSize;
    ULONG PoolTag;
    ULONG64 ProcessBilled;
} POOL_HEADER;

static ULONG64 MiPoolCursor = MM_POOL_START;
static ULONG64 MiPoolMappedEnd = MM_POOL_START;

static void MiGrowPool(ULONG64 end) {
    while (MiPoolMappedEnd < end) {
        if (MiPoolMappedEnd >= MM_POOL_START + MM_POOL_SIZE) KeBugCheckEx(NO_PAGES_AVAILABLE, 1, end, 0, 0);
        MiMapPage(MmSystemDirectoryTableBase, MiPoolMappedEnd, MiAllocatePhysicalPage(), FALSE, TRUE, FALSE);
        MiPoolMappedEnd += PAGE_SIZE;
    }
}

/* Small blocks carry a POOL_HEADER with their tag; blocks of a page or more
   are page-aligned (stacks, handle table pages). mini-NT never frees pool:
   its boot path allocates a bounded amount. */
PVOID ExAllocatePoolWithTag(ULONG poolType, SIZE_T size, ULONG tag) {
    (void)poolType;
    if (size >= PAGE_SIZE - sizeof(POOL_HEADER)) {
        ULONG64 va = (MiPoolCursor + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        ULONG64 end = va + ((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
        MiGrowPool(end);
        MiPoolCursor = end;
        memset((PVOID)va, 0, end - va);
        return (PVOID)va;
    }
    ULONG64 need = (sizeof(POOL_HEADER) + size + 15) & ~15ull;
    if ((MiPoolCursor & (PAGE_SIZE - 1)) + need > PAGE_SIZE) MiPoolCursor = (MiPoolCursor + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    ULONG64 va = MiPoolCursor;
    MiGrowPool(va + need);
    MiPoolCursor = va + need;
    memset((PVOID)va, 0, need);
    POOL_HEADER *h = (POOL_HEADER *)va;
    h->BlockSize = (ULONG)need;
    h->PoolTag = tag;
    return h + 1;
}

/* ---- VADs --------------------------------------------------------------- */

MMVAD *MiAllocateVad(ULONG64 start, ULONG64 end, ULONG type, ULONG protection, BOOLEAN priv, BOOLEAN commit) {
    MMVAD *vad = ExAllocatePoolWithTag(NonPagedPool, sizeof(MMVAD), 'SdaV');
    ULONG64 svpn = start >> PAGE_SHIFT, evpn = (end - 1) >> PAGE_SHIFT;
    vad->Core.StartingVpn = (ULONG)svpn;
    vad->Core.StartingVpnHigh = (UCHAR)(svpn >> 32);
    vad->Core.EndingVpn = (ULONG)evpn;
    vad->Core.EndingVpnHigh = (UCHAR)(evpn >> 32);
    vad->Core.u.VadFlags.VadType = type;
    vad->Core.u.VadFlags.Protection = protection;
    vad->Core.u.VadFlags.PrivateMemory = priv;
    vad->Core.u1.VadFlags1.MemCommit = commit;
    return vad;
}

static ULONG64 MiVadStart(MMVAD_SHORT *v) { return ((ULONG64)v->StartingVpnHigh << 32) | v->StartingVpn; }

/* Inserts into the process's VAD tree, ordered by starting VPN. The tree is
   a binary search tree with parent links in ParentValue, as Windows'; the
   boot path inserts few VADs, so it does not rebalance. */
void MiInsertVad(EPROCESS *p, MMVAD_SHORT *vad) {
    RTL_BALANCED_NODE **link = &p->VadRoot.Root, *parent = NULL;
    ULONG64 key = MiVadStart(vad);
    while (*link) {
        parent = *link;
        MMVAD_SHORT *cur = CONTAINING_RECORD(parent, MMVAD_SHORT, VadNode);
        link = &parent->Children[key > MiVadStart(cur)];
    }
    vad->VadNode.Left = vad->VadNode.Right = NULL;
    vad->VadNode.ParentValue = (ULONG64)parent;
    *link = &vad->VadNode;
    p->VadCount++;
}

/* ---- initialisation ------------------------------------------------------ */

void MmInitSystem(LOADER_PARAMETER_BLOCK *lb) {
    MmPhysicalMapBase = lb->PhysicalMapBase;
    MmPhysicalMapSize = lb->PhysicalMapSize;
    MmSystemDirectoryTableBase = lb->Pml4Physical;

    ULONG64 lowest = ~0ull, highest = 0;
    for (ULONG i = 0; i < lb->MemoryDescriptorCount; i++) {
        LOADER_MEMORY_DESCRIPTOR *d = &lb->MemoryDescriptors[i];
        if (d->MemoryType != LoaderFree) continue;
        for (ULONG64 pfn = d->BasePage; pfn < d->BasePage + d->PageCount; pfn++) {
            ULONG64 pa = pfn << PAGE_SHIFT;
            if (pa < 0x100000 || pa < lb->FirstFreePhysical || pa + PAGE_SIZE > MmPhysicalMapSize) continue;
            MiFreePhysicalPage(pa);
            if (pfn < lowest) lowest = pfn;
            if (pfn > highest) highest = pfn;
        }
    }
    MiSystemPartition.Vp.LowestPhysicalPage = lowest;
    MiSystemPartition.Vp.HighestPhysicalPage = highest;
    MiSystemPartition.Vp.NumberOfPhysicalPages = MiAvailablePages;

    /* The identity map was winload's, for the switch to long mode only. */
    MiTableAt(MmSystemDirectoryTableBase)[0].u.Long = 0;
    /* Pool's top-level table exists before any process copies the kernel
       half. */
    MiNextLevel(&MiTableAt(MmSystemDirectoryTableBase)[MiIndex(MM_POOL_START, 3)], FALSE);
    __writecr3(MmSystemDirectoryTableBase);

    /* The physical address width and the PTE swizzle mask, as Windows
       computes them for L1TF: the top implemented physical address bit. */
    ULONG eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0x80000008u), "c"(0));
    KiImplementedPhysicalBits = eax & 0xff;
    MiState.Hardware.PhysicalAddressBits = KiImplementedPhysicalBits;
    MiState.Hardware.InvalidPteMask = 1ull << (KiImplementedPhysicalBits - 1);
    MiState.Hardware.TotalPagesAllowed = MiAvailablePages;
    MiState.SystemVaStart = MM_POOL_START;
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
            if (pa != ~0ull) MiFreePhysicalPage(pa & ~(PAGE_SIZE - 1));
        }
        DbgPrint("frost-guest: init-discarded start=0x%llx size=0x%x\n", start, size);
    }
}
