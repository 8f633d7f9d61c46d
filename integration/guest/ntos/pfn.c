/*
 * Physical pages: the PFN database and its page lists, as Windows keeps
 * them. A page is on exactly one of the free, standby and modified lists,
 * or active (mapped by its PteAddress). When the free list runs dry a
 * standby page is repurposed: its PTE gets back OriginalPte, so the content
 * is then only where OriginalPte says (the file, or the paging file).
 */
#include "ke.h"

MMPFN *MmPfnDatabase;
static ULONG64 MmHighestPhysicalPage;
#define MM_EMPTY_LIST (~0ull)

MMPFNLIST MmFreePageListHead = {0, FreePageList, MM_EMPTY_LIST, MM_EMPTY_LIST};
MMPFNLIST MmStandbyPageListHead = {0, StandbyPageList, MM_EMPTY_LIST, MM_EMPTY_LIST};
MMPFNLIST MmModifiedPageListHead = {0, ModifiedPageList, MM_EMPTY_LIST, MM_EMPTY_LIST};

/* Before the database exists, frames come from a bump pointer. */
static ULONG64 MiBootstrapNext;

static MMPFNLIST *MiListFor(ULONG location) {
    switch (location) {
    case FreePageList:
        return &MmFreePageListHead;
    case StandbyPageList:
        return &MmStandbyPageListHead;
    case ModifiedPageList:
        return &MmModifiedPageListHead;
    }
    return NULL;
}

void MiInsertPageInList(MMPFNLIST *list, ULONG64 pfn) {
    MMPFN *p = MI_PFN(pfn);
    p->u3.e1.PageLocation = list->ListName;
    p->u1.Flink = MM_EMPTY_LIST;
    p->u2.Blink = list->Blink;
    if (list->Blink == MM_EMPTY_LIST)
        list->Flink = pfn;
    else
        MI_PFN(list->Blink)->u1.Flink = pfn;
    list->Blink = pfn;
    list->Total++;
}

void MiUnlinkPageFromList(ULONG64 pfn) {
    MMPFN *p = MI_PFN(pfn);
    MMPFNLIST *list = MiListFor(p->u3.e1.PageLocation);
    if (!list) KeBugCheckEx(0x4E /* PFN_LIST_CORRUPT */, 1, pfn, p->u3.e1.PageLocation, 0);
    ULONG64 next = p->u1.Flink, prev = p->u2.Blink;
    if (prev == MM_EMPTY_LIST)
        list->Flink = next;
    else
        MI_PFN(prev)->u1.Flink = next;
    if (next == MM_EMPTY_LIST)
        list->Blink = prev;
    else
        MI_PFN(next)->u2.Blink = prev;
    list->Total--;
    p->u1.Flink = 0;
    p->u2.ShareCount = 0;
    p->u3.e1.PageLocation = ActiveAndValid;
}

void MiInsertPageInFreeList(ULONG64 pfn) {
    MMPFN *p = MI_PFN(pfn);
    p->PteAddress = NULL;
    p->OriginalPte.u.Long = 0;
    p->u3.e1.Modified = 0;
    p->u4.EntireField = 0;
    MiInsertPageInList(&MmFreePageListHead, pfn);
}

/* A frame for any use, not zeroed. */
ULONG64 MiRemoveAnyPage(void) {
    if (!MmPfnDatabase) {
        ULONG64 pa = MiBootstrapNext;
        MiBootstrapNext += PAGE_SIZE;
        return pa >> PAGE_SHIFT;
    }
    ULONG64 pfn = MmFreePageListHead.Flink;
    if (pfn == MM_EMPTY_LIST) {
        pfn = MmStandbyPageListHead.Flink;
        if (pfn == MM_EMPTY_LIST) KeBugCheckEx(NO_PAGES_AVAILABLE, MmModifiedPageListHead.Total, 0, 0, 0);
        /* Repurpose: the PTE that still names this frame goes back to
           where the content also lives. */
        MMPFN *p = MI_PFN(pfn);
        if (p->PteAddress) MiWriteInvalidPte(p->PteAddress, p->OriginalPte.u.Long);
    }
    MiUnlinkPageFromList(pfn);
    MMPFN *p = MI_PFN(pfn);
    p->PteAddress = NULL;
    p->OriginalPte.u.Long = 0;
    p->u3.ReferenceCount = 1;
    p->u3.e1.Modified = 0;
    p->u4.EntireField = 0;
    MiSystemPartition.Vp.AvailablePages = MmFreePageListHead.Total + MmStandbyPageListHead.Total;
    return pfn;
}

ULONG64 MiAllocatePhysicalPage(void) {
    ULONG64 pa = MiRemoveAnyPage() << PAGE_SHIFT;
    memset(MmGetVirtualForPhysical(pa), 0, PAGE_SIZE);
    return pa;
}

ULONG64 MiCountFreePages(void) { return MmFreePageListHead.Total; }

/* Builds the database for every page below the managed limit: pages winload
   used and those the database itself takes are active, free RAM goes on the
   free list, the rest (holes, firmware) stays out of every list. */
void MiInitializePfnDatabase(LOADER_PARAMETER_BLOCK *lb) {
    ULONG64 top = 0;
    for (ULONG i = 0; i < lb->MemoryDescriptorCount; i++) {
        LOADER_MEMORY_DESCRIPTOR *d = &lb->MemoryDescriptors[i];
        if (d->MemoryType == LoaderFree && d->BasePage + d->PageCount > top) top = d->BasePage + d->PageCount;
    }
    if (top > lb->PhysicalMapSize >> PAGE_SHIFT) top = lb->PhysicalMapSize >> PAGE_SHIFT;
    MmHighestPhysicalPage = top - 1;
    MiBootstrapNext = lb->FirstFreePhysical;

    ULONG64 bytes = top * sizeof(MMPFN);
    for (ULONG64 off = 0; off < bytes; off += PAGE_SIZE) {
        ULONG64 pa = MiRemoveAnyPage() << PAGE_SHIFT;
        memset(MmGetVirtualForPhysical(pa), 0, PAGE_SIZE);
        MiMapPage(MmSystemDirectoryTableBase, MM_PFN_DATABASE + off, pa, FALSE, TRUE, FALSE);
    }
    /* Tables MiMapPage made came from the bump pointer too. */
    MmPfnDatabase = (MMPFN *)MM_PFN_DATABASE;

    ULONG64 lowest = ~0ull, count = 0;
    for (ULONG64 pfn = 0; pfn < top; pfn++) {
        MMPFN *p = MI_PFN(pfn);
        p->u3.e1.PageLocation = ActiveAndValid;
        p->u3.ReferenceCount = 1;
    }
    for (ULONG i = 0; i < lb->MemoryDescriptorCount; i++) {
        LOADER_MEMORY_DESCRIPTOR *d = &lb->MemoryDescriptors[i];
        if (d->MemoryType != LoaderFree) continue;
        for (ULONG64 pfn = d->BasePage; pfn < d->BasePage + d->PageCount && pfn < top; pfn++) {
            if ((pfn << PAGE_SHIFT) < 0x100000 || (pfn << PAGE_SHIFT) < MiBootstrapNext) continue;
            MiInsertPageInFreeList(pfn);
            if (pfn < lowest) lowest = pfn;
            count++;
        }
    }
    MiSystemPartition.Vp.LowestPhysicalPage = lowest;
    MiSystemPartition.Vp.HighestPhysicalPage = MmHighestPhysicalPage;
    MiSystemPartition.Vp.NumberOfPhysicalPages = count;
    MiSystemPartition.Vp.AvailablePages = count;
}
