/*
 * The executive pool as x64 Windows lays it out: every small block starts
 * with a 16-byte _POOL_HEADER (sizes in 16-byte units, the tag at the end
 * of the first quadword), and every block of more than 0xFF0 bytes is whole
 * pages, untagged in memory and recorded instead in PoolBigPageTable
 * (_POOL_TRACKER_BIG_PAGES, ntos/kobj.h). Pool scanners find objects by
 * these tags, so they are Windows' own: an object's allocation carries its
 * type's Key (Proc, Thre, File, Muta, ...), and the other callers pass
 * the tag Windows uses for the same allocation.
 */
#ifndef MININT_POOL_H
#define MININT_POOL_H

#include "ntdef.h"
#include "kobj.h"

typedef struct _POOL_HEADER {
    REORDER(
    union {
        struct {
            USHORT PreviousSize : 8; /* of the block before, same page; 0 first */
            USHORT PoolIndex : 8;
            USHORT BlockSize : 8; /* this block, header included */
            USHORT PoolType : 8;  /* 0 free; in use: base pool type | POOL_IN_USE */
        };
        ULONG Ulong1;
    };
    ULONG PoolTag;
    , /* the second half */
    union {
        struct _EPROCESS *ProcessBilled;
        struct {
            USHORT AllocatorBackTraceIndex;
            USHORT PoolTagHash;
        };
    };)
} POOL_HEADER, *PPOOL_HEADER;

_Static_assert(sizeof(POOL_HEADER) == 16, "x64 pool headers are 16 bytes");

#define POOL_BLOCK_SHIFT 4
#define POOL_SMALLEST_BLOCK 16
/* The largest block a page of small blocks holds (255 units); a larger
   request takes whole pages. */
#define POOL_BUDDY_MAX 0xFF0
/* Vista and later mark a block in use by this bit of PoolType, beside the
   base pool type (0 nonpaged, 1 paged). */
#define POOL_IN_USE_MASK 2
/* POOL_TRACKER_BIG_PAGES.Va bit 0: the entry is free. */
#define POOL_BIG_TABLE_ENTRY_FREE 1

extern POOL_TRACKER_BIG_PAGES *PoolBigPageTable;
extern SIZE_T PoolBigPageTableSize;

/* The pool header of a small block, from what ExAllocatePoolWithTag
   returned. */
static inline POOL_HEADER *ExPoolHeader(PVOID p) { return (POOL_HEADER *)p - 1; }

void ExInitializePoolBigPageTable(void);

#endif
