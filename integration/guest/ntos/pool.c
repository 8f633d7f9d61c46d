/*
 * The executive pool (pool.h): two bump regions, nonpaged pool for objects
 * and "paged" pool for what Windows keeps there (prototype PTE arrays,
 * directories, names), as Windows places them. mini-NT never pages pool
 * out and never frees it: its workload allocates a bounded amount. Paged
 * pool starts at a VA with bit 29 set, so a prototype PTE pointer into it
 * (ProtoAddress, bits 16..63) has bit 45 set, as real ones often do.
 *
 * A page of small blocks is carved front to back, each block's header
 * naming the size of the one before it (PreviousSize), and the unused
 * tail of a page left behind is a free block, so a walk of the page by
 * BlockSize from its start meets every block, as on Windows. A block of
 * more than POOL_BUDDY_MAX bytes is whole pages with no header; its VA,
 * tag and size go into PoolBigPageTable, hashed by page number with linear
 * probing.
 */
#include "ke.h"
#include "pool.h"

POOL_TRACKER_BIG_PAGES *PoolBigPageTable;
SIZE_T PoolBigPageTableSize;
/* Windows sizes the table from RAM and grows it; mini-NT's workload makes
   well under a hundred big allocations. */
#define POOL_BIG_TABLE_ENTRIES 512

typedef struct _MI_POOL {
    ULONG64 Cursor, MappedEnd, Limit;
    ULONG PreviousUnits; /* BlockSize of the last block of the current page */
} MI_POOL;
static MI_POOL MiPools[2] = {
    {MM_POOL_START, MM_POOL_START, MM_POOL_START + MM_POOL_SIZE, 0},
    {MM_PAGED_POOL_START, MM_PAGED_POOL_START, MM_PAGED_POOL_START + MM_POOL_SIZE, 0},
};

static void MiGrowPool(MI_POOL *pool, ULONG64 end) {
    while (pool->MappedEnd < end) {
        if (pool->MappedEnd >= pool->Limit) KeBugCheckEx(NO_PAGES_AVAILABLE, 1, end, 0, 0);
        MiMapPage(MmSystemDirectoryTableBase, pool->MappedEnd, MiAllocatePhysicalPage(), FALSE, TRUE, FALSE);
        pool->MappedEnd += PAGE_SIZE;
    }
}

/* Leaves the current page of small blocks: its unused tail becomes a free
   block, and the cursor moves to the next page boundary. */
static void ExpFinishSmallPage(MI_POOL *pool) {
    ULONG64 in = pool->Cursor & (PAGE_SIZE - 1);
    if (in == 0) return;
    ULONG64 tail = PAGE_SIZE - in;
    if (pool->PreviousUnits && tail >= POOL_SMALLEST_BLOCK) {
        POOL_HEADER *free = (POOL_HEADER *)pool->Cursor;
        memset(free, 0, sizeof(*free));
        free->PreviousSize = pool->PreviousUnits;
        free->BlockSize = (USHORT)(tail >> POOL_BLOCK_SHIFT);
    }
    pool->Cursor += tail;
    pool->PreviousUnits = 0;
}

static ULONG64 ExpBigPageHash(ULONG64 va) { return (va >> PAGE_SHIFT) & (PoolBigPageTableSize - 1); }

static void ExpInsertBigPage(ULONG64 va, ULONG tag, SIZE_T bytes, ULONG poolType) {
    if (!PoolBigPageTable) return; /* the table's own pages, and any before it */
    for (SIZE_T n = 0, i = ExpBigPageHash(va); n < PoolBigPageTableSize; n++, i = (i + 1) & (PoolBigPageTableSize - 1)) {
        POOL_TRACKER_BIG_PAGES *e = &PoolBigPageTable[i];
        if (!(e->Va & POOL_BIG_TABLE_ENTRY_FREE)) continue;
        e->Key = tag;
        e->NumberOfBytes = bytes;
        e->PoolType = poolType;
        e->Pattern = 0;
        e->SlushSize = 0;
        e->ProcessBilled = NULL;
        e->Va = va; /* last: the entry is in use from here */
        char t[5] = {(char)tag, (char)(tag >> 8), (char)(tag >> 16), (char)(tag >> 24), 0};
        DbgPrint("frost-guest: pool-big va=0x%llx tag=\"%s\" bytes=0x%llx pool-type=%u entry=0x%llx\n", va, t,
                 (ULONG64)bytes, poolType, (ULONG64)e);
        return;
    }
    KeBugCheckEx(NO_PAGES_AVAILABLE, 3, va, tag, PoolBigPageTableSize);
}

/* Returns zeroed memory (mini-NT's callers rely on it; Windows' pool does
   not zero). */
PVOID ExAllocatePoolWithTag(ULONG poolType, SIZE_T size, ULONG tag) {
    MI_POOL *pool = &MiPools[poolType == PagedPool];
    if (size == 0) size = 1;
    if (size > POOL_BUDDY_MAX - sizeof(POOL_HEADER)) {
        ExpFinishSmallPage(pool);
        ULONG64 va = pool->Cursor;
        ULONG64 end = va + ((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
        MiGrowPool(pool, end);
        pool->Cursor = end;
        memset((PVOID)va, 0, end - va);
        ExpInsertBigPage(va, tag, end - va, poolType & 1);
        return (PVOID)va;
    }
    ULONG64 need = (sizeof(POOL_HEADER) + size + 15) & ~15ull;
    if ((pool->Cursor & (PAGE_SIZE - 1)) + need > PAGE_SIZE) ExpFinishSmallPage(pool);
    ULONG64 va = pool->Cursor;
    MiGrowPool(pool, va + need);
    pool->Cursor = va + need;
    memset((PVOID)va, 0, need);
    POOL_HEADER *h = (POOL_HEADER *)va;
    h->PreviousSize = pool->PreviousUnits;
    h->PoolIndex = 0;
    h->BlockSize = (USHORT)(need >> POOL_BLOCK_SHIFT);
    h->PoolType = (USHORT)((poolType & 1) | POOL_IN_USE_MASK);
    h->PoolTag = tag;
    pool->PreviousUnits = (ULONG)(need >> POOL_BLOCK_SHIFT);
    if ((pool->Cursor & (PAGE_SIZE - 1)) == 0) pool->PreviousUnits = 0;
    return h + 1;
}

/* PoolBigPageTable, before the first big allocation worth tracking: its
   own pages come from nonpaged pool untracked, as Windows' come from the
   memory manager directly. Every entry starts free. */
void ExInitializePoolBigPageTable(void) {
    SIZE_T bytes = POOL_BIG_TABLE_ENTRIES * sizeof(POOL_TRACKER_BIG_PAGES);
    POOL_TRACKER_BIG_PAGES *table = ExAllocatePoolWithTag(NonPagedPool, bytes, 'looP');
    for (SIZE_T i = 0; i < POOL_BIG_TABLE_ENTRIES; i++) table[i].Va = POOL_BIG_TABLE_ENTRY_FREE;
    PoolBigPageTableSize = POOL_BIG_TABLE_ENTRIES;
    PoolBigPageTable = table;
    DbgPrint("frost-guest: pool-big-table address=0x%llx entries=%llu entry-size=%llu\n", (ULONG64)table,
             (ULONG64)PoolBigPageTableSize, (ULONG64)sizeof(POOL_TRACKER_BIG_PAGES));
}
