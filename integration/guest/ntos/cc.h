/*
 * The cache manager's structures under Windows' names, with Windows 10's
 * members: a file's shared cache map (_SHARED_CACHE_MAP, from
 * SECTION_OBJECT_POINTERS.SharedCacheMap) and its views (_VACB).
 *
 * Type-only: mini-NT has no cache manager (NtReadFile/NtWriteFile go
 * straight to the disk), so no file object has a shared cache map and
 * none of these is ever allocated. Kernel-internal: the reorder build
 * swaps their halves.
 */
#ifndef MININT_CC_H
#define MININT_CC_H

#include "ke.h"

struct _SHARED_CACHE_MAP;
struct _VACB_ARRAY_HEADER;

typedef struct _VACB {
    REORDER(
    PVOID BaseAddress; /* the view in system cache space */
    struct _SHARED_CACHE_MAP *SharedCacheMap;
    ,
    union {
        LARGE_INTEGER FileOffset;
        USHORT ActiveCount;
    } Overlay;
    LIST_ENTRY Links;
    struct _VACB_ARRAY_HEADER *ArrayHead;)
} VACB;

typedef struct _VACB_ARRAY_HEADER {
    ULONG VacbArrayIndex;
    ULONG MappingCount;
    ULONG HighestMappedIndex;
    ULONG Reserved;
} VACB_ARRAY_HEADER;

#define PREALLOCATED_VACBS 4
#define CACHE_NTC_SHARED_CACHE_MAP 0x2FF

typedef struct _SHARED_CACHE_MAP {
    REORDER(
    SHORT NodeTypeCode; /* CACHE_NTC_SHARED_CACHE_MAP */
    SHORT NodeByteSize;
    ULONG OpenCount;
    LARGE_INTEGER FileSize;
    LIST_ENTRY BcbList;
    LARGE_INTEGER SectionSize;
    LARGE_INTEGER ValidDataLength;
    ,
    VACB *InitialVacbs[PREALLOCATED_VACBS];
    VACB **Vacbs;
    EX_FAST_REF FileObjectFastRef;
    LIST_ENTRY SharedCacheMapLinks;
    ULONG Flags;)
} SHARED_CACHE_MAP;

#endif
