/*
 * The balance set manager: a System thread that wakes every
 * MM_BALANCE_TICKS, trims working sets above their minimum (pages not
 * accessed since the last pass go to transition), optionally trims empty
 * page-table pages (trim=aggressive), and runs the modified page writer,
 * which pages modified pages out to the paging files while the modified
 * list holds more than MM_MODIFIED_PAGE_MAXIMUM.
 *
 * Each pass reports the PTE states of every process it trimmed. The first
 * pass that changes nothing, after some pass trimmed, marks the workload
 * settled: then the pass reports samples of every state and the pages in
 * the paging files, and smss reports `ready`.
 */
#include "ke.h"

#define MM_BALANCE_TICKS (CLOCK_HZ / 5)
#define MM_MODIFIED_PAGE_MAXIMUM 256
#define POISON 0xBAADF00DBAADF00Dull

BOOLEAN MmWorkloadSettled;
ULONG64 MmBalancePasses;
static BOOLEAN MiAggressiveTrim;
static BOOLEAN MiEverTrimmed;

void MiTrimPage(EPROCESS *p, ULONG64 va, MMPTE *pte, BOOLEAN realProtoPointer); /* fault.c */

/* ---- trimming ------------------------------------------------------------- */

/* Trimmed pages of a mapped view keep a pointer to their prototype PTE in
   the first two subsections (headers and the first section), and the
   "VAD lookup needed" marker elsewhere: both forms occur in Windows. */
static BOOLEAN MiUseRealProtoPointer(EPROCESS *p, ULONG64 va) {
    MMVAD_SHORT *v = MiLocateAddress(p, va);
    if (!v || v->u.VadFlags.PrivateMemory) return TRUE;
    MMVAD *mv = CONTAINING_RECORD(v, MMVAD, Core);
    MMPTE *proto = MiVadPrototypePte(mv, va);
    SUBSECTION *s = mv->Subsection;
    return s && (proto < s->SubsectionBase + s->PtesInSubsection ||
                 (s->NextSubsection && proto < s->NextSubsection->SubsectionBase + s->NextSubsection->PtesInSubsection));
}

static void MiTrimWorkingSet(EPROCESS *p, ULONG64 *aged, ULONG64 *trimmed) {
    MMWSL *ws = p->Vm.VmWorkingSetList;
    if (!ws || p->Vm.WorkingSetSize <= p->Vm.MinimumWorkingSetSize) return;
    ULONG64 dtb = p->Pcb.DirectoryTableBase;
    for (ULONG64 i = 0; i < ws->LastEntry && p->Vm.WorkingSetSize > p->Vm.MinimumWorkingSetSize; i++) {
        ULONG64 va = ws->Wsle[i];
        if (!va) continue;
        MMPTE *pte = MiGetPteAddress(dtb, va, 0);
        if (!pte || !pte->u.Hard.Valid) { /* decommitted since */
            ws->Wsle[i] = 0;
            p->Vm.WorkingSetSize--;
            continue;
        }
        if (pte->u.Hard.Accessed) {
            pte->u.Hard.Accessed = 0;
            (*aged)++;
            continue;
        }
        MiTrimPage(p, va, pte, MiUseRealProtoPointer(p, va));
        ws->Wsle[i] = 0;
        p->Vm.WorkingSetSize--;
        (*trimmed)++;
    }
    ULONG64 j = 0;
    for (ULONG64 i = 0; i < ws->LastEntry; i++)
        if (ws->Wsle[i]) ws->Wsle[j++] = ws->Wsle[i];
    ws->LastEntry = j;
}

static MMPTE *MiTable(ULONG64 pa) { return (MMPTE *)MmGetVirtualForPhysical(pa); }

/* Calls fn for every resident page directory entry of p's user space that
   is not a large page: (pde, pde's physical address, VA it starts). */
typedef void (*PDE_VISITOR)(EPROCESS *p, MMPTE *pde, ULONG64 pdePa, ULONG64 va, PVOID ctx);
static void MiForEachUserPde(EPROCESS *p, PDE_VISITOR fn, PVOID ctx) {
    MMPTE *pml4 = MiTable(p->Pcb.DirectoryTableBase);
    for (ULONG64 i4 = 0; i4 < 256; i4++) {
        if (!pml4[i4].u.Hard.Valid) continue;
        ULONG64 pdptPa = (ULONG64)pml4[i4].u.Hard.PageFrameNumber << PAGE_SHIFT;
        for (ULONG64 i3 = 0; i3 < 512; i3++) {
            MMPTE *pdpte = &MiTable(pdptPa)[i3];
            if (!pdpte->u.Hard.Valid || pdpte->u.Hard.LargePage) continue;
            ULONG64 pdPa = (ULONG64)pdpte->u.Hard.PageFrameNumber << PAGE_SHIFT;
            for (ULONG64 i2 = 0; i2 < 512; i2++) {
                MMPTE *pde = &MiTable(pdPa)[i2];
                if (pde->u.Long == 0) continue;
                fn(p, pde, pdPa + i2 * sizeof(MMPTE), (i4 << 39) | (i3 << 30) | (i2 << 21), ctx);
            }
        }
    }
}

/* trim=aggressive: a page-table page whose PTEs are all invalid and none in
   transition is itself trimmed, so its PDE goes to transition (and maybe
   the paging file). */
static void MiTrimPageTable(EPROCESS *p, MMPTE *pde, ULONG64 pdePa, ULONG64 va, PVOID ctx) {
    (void)p, (void)pdePa, (void)va;
    if (!pde->u.Hard.Valid || pde->u.Hard.LargePage) return;
    ULONG64 pfn = pde->u.Hard.PageFrameNumber;
    MMPTE *pt = MiTable(pfn << PAGE_SHIFT);
    for (int i = 0; i < 512; i++) {
        MMPTE e;
        e.u.Long = MiReadPte(&pt[i]);
        if (e.u.Hard.Valid || (e.u.Trans.Transition && !e.u.Proto.Prototype)) return;
    }
    MMPFN *pf = MI_PFN(pfn);
    pf->PteAddress = pde;
    pf->OriginalPte.u.Long = MiMakeDemandZeroPte(MM_READWRITE);
    pf->u3.e1.Modified = 1;
    MiWriteInvalidPte(pde, MiMakeTransitionPte(pfn, MM_READWRITE));
    MiInsertPageInList(&MmModifiedPageListHead, pfn);
    (*(ULONG64 *)ctx)++;
}

/* ---- the modified page writer ------------------------------------------------ */

static ULONG64 MiModifiedPageWriter(void) {
    ULONG64 written = 0;
    if (!MiSystemPartition.Vp.NumberOfPagingFiles) return 0;
    while (MmModifiedPageListHead.Total > MM_MODIFIED_PAGE_MAXIMUM) {
        ULONG64 pfn = MmModifiedPageListHead.Flink;
        MMPFN *pf = MI_PFN(pfn);
        ULONG file;
        ULONG64 offset;
        if (!MiAllocatePagefileSlot(&file, &offset)) break;
        ULONG64 *page = MmGetVirtualForPhysical(pfn << PAGE_SHIFT);
        if (!NT_SUCCESS(MiWritePagefilePage(file, offset, page))) {
            MiFreePagefileSlot(file, offset);
            break;
        }
        MiUnlinkPageFromList(pfn);
        MiWriteInvalidPte(pf->PteAddress, MiMakePagefilePte(file, offset, (ULONG)pf->OriginalPte.u.Soft.Protection));
        /* The only copy is now in the paging file: poison the frame and
           give it to the next user. */
        for (int i = 0; i < 512; i++) page[i] = POISON;
        MiInsertPageInFreeList(pfn);
        written++;
    }
    return written;
}

/* ---- reporting -------------------------------------------------------------- */

enum { StValid, StTransition, StPagefile, StDemandZero, StZeroWithVad, StPrototype, StSubsection, StDecommitted,
       StReserved, StCount };
static const char *MiStateNames[StCount] = {"valid", "transition", "pagefile", "demand-zero", "zero-with-vad",
                                            "prototype", "subsection", "decommitted", "reserved"};

typedef struct _MI_SCAN {
    ULONG64 Count[StCount];
    BOOLEAN Sampled[StCount];
    BOOLEAN Report; /* print samples and paged-out pages */
} MI_SCAN;

static ULONG MiClassify(ULONG64 v, MMVAD_SHORT *vad) {
    MMPTE e;
    e.u.Long = v;
    if (e.u.Hard.Valid) return StValid;
    if (e.u.Proto.Prototype) return StPrototype;
    if (e.u.Trans.Transition) return StTransition;
    if (v == 0) return vad->u.VadFlags.PrivateMemory && !vad->u1.VadFlags1.MemCommit ? StReserved : StZeroWithVad;
    if (e.u.Soft.PageFileHigh) return StPagefile;
    if (e.u.Soft.Protection == MM_DECOMMIT) return StDecommitted;
    return StDemandZero;
}

static void MiSample(MI_SCAN *scan, ULONG st, ULONG64 va, ULONG64 pa, ULONG64 raw) {
    if (!scan->Report || scan->Sampled[st] || pa == ~0ull) return;
    scan->Sampled[st] = TRUE;
    DbgPrint("frost-guest: sample state=%s va=0x%llx pte-pa=0x%llx raw=0x%016llx unswizzled=0x%016llx\n",
             MiStateNames[st], va, pa, raw, MiUnswizzle(raw));
}

/* The PTEs of the table behind pde, wherever that table is now. */
static MMPTE *MiPageTableContents(MMPTE *pde, ULONG64 *tablePa) {
    static MMPTE buffer[512];
    MMPTE e;
    e.u.Long = MiReadPte(pde);
    if (e.u.Hard.Valid) {
        *tablePa = (ULONG64)e.u.Hard.PageFrameNumber << PAGE_SHIFT;
        return MiTable(*tablePa);
    }
    *tablePa = ~0ull; /* not where a walk would find it */
    if (e.u.Trans.Transition) return MiTable((ULONG64)e.u.Trans.PageFrameNumber << PAGE_SHIFT);
    if (e.u.Soft.PageFileHigh &&
        NT_SUCCESS(MiReadPagefilePage((ULONG)e.u.Soft.PageFileLow, e.u.Soft.PageFileHigh, buffer)))
        return buffer;
    return NULL;
}

static void MiScanProcess(EPROCESS *p, MI_SCAN *scan) {
    ULONG64 dtb = p->Pcb.DirectoryTableBase;
    for (MMVAD_SHORT *vad = MiFirstVad(p); vad; vad = MiNextVad(vad)) {
        for (ULONG64 va = MiVadStart(vad); va < MiVadEnd(vad); va += PAGE_SIZE) {
            MMPTE *pde = MiGetPteAddress(dtb, va, 1);
            ULONG64 raw = 0, tablePa = ~0ull;
            if (pde && pde->u.Long) {
                MMPTE *pt = MiPageTableContents(pde, &tablePa);
                if (pt) raw = pt[(va >> PAGE_SHIFT) & 511].u.Long;
            }
            ULONG64 pa = tablePa == ~0ull ? ~0ull : tablePa + ((va >> PAGE_SHIFT) & 511) * sizeof(MMPTE);
            ULONG st = MiClassify(MiUnswizzle(raw), vad);
            scan->Count[st]++;
            MiSample(scan, st, va, pa, raw);
            MMPTE e;
            e.u.Long = MiUnswizzle(raw);
            if (scan->Report && st == StPagefile) {
                MMPAGING_FILE *pf = MiSystemPartition.Vp.PagingFile[e.u.Soft.PageFileLow];
                DbgPrint("frost-guest: pagedout va=0x%llx pagefile=%u offset=0x%llx disk-offset=0x%llx\n", va,
                         (ULONG)e.u.Soft.PageFileLow, e.u.Soft.PageFileHigh * PAGE_SIZE,
                         ((FROSTFS_ENTRY *)pf->File->FsContext)->ExtentOffset + e.u.Soft.PageFileHigh * PAGE_SIZE);
            }
            /* Pages of a view whose prototype is still a subsection PTE:
               their content is only in the file. */
            if (!vad->u.VadFlags.PrivateMemory && (st == StPrototype || st == StZeroWithVad)) {
                MMPTE *proto = MiVadPrototypePte(CONTAINING_RECORD(vad, MMVAD, Core), va);
                MMPTE pv;
                pv.u.Long = MiReadPte(proto);
                if (!pv.u.Hard.Valid && pv.u.Proto.Prototype) {
                    scan->Count[StSubsection]++;
                    MiSample(scan, StSubsection, va, MmGetPhysicalAddress(MmSystemDirectoryTableBase, (ULONG64)proto),
                             proto->u.Long);
                }
            }
        }
    }
}

static void MiReportPagedOutTable(EPROCESS *p, MMPTE *pde, ULONG64 pdePa, ULONG64 va, PVOID ctx) {
    (void)p, (void)ctx;
    MMPTE e;
    e.u.Long = MiReadPte(pde);
    if (e.u.Hard.Valid) return;
    const char *state = e.u.Trans.Transition ? "transition" : e.u.Soft.PageFileHigh ? "pagefile" : NULL;
    if (!state) return;
    DbgPrint("frost-guest: pagetable-out start=0x%llx end=0x%llx pde-pa=0x%llx raw=0x%016llx unswizzled=0x%016llx "
             "state=%s\n",
             va, va + 0x200000, pdePa, pde->u.Long, e.u.Long, state);
}

static void MiReportProcess(EPROCESS *p, BOOLEAN settled) {
    MI_SCAN scan = {0};
    scan.Report = settled;
    MiScanProcess(p, &scan);
    if (settled) MiForEachUserPde(p, MiReportPagedOutTable, NULL);
    DbgPrint("frost-guest: trim pass=%llu pid=%llu name=%s", MmBalancePasses, (ULONG64)p->UniqueProcessId,
             (const char *)p->ImageFileName);
    for (ULONG i = 0; i < StCount; i++) DbgPrint(" %s=%llu", MiStateNames[i], scan.Count[i]);
    DbgPrint(" ws=%llu\n", p->Vm.WorkingSetSize);
}

/* ---- the thread ----------------------------------------------------------------- */

static void KeBalanceSetManager(PVOID Context) {
    (void)Context;
    KeStartBalanceSetManagerPeriod(MM_BALANCE_TICKS * 1000 / CLOCK_HZ);
    for (;;) {
        KeWaitForBalanceSetManagerPeriod();
        ULONG64 aged = 0, trimmed = 0, tables = 0;
        for (LIST_ENTRY *e = PsActiveProcessHead.Flink; e != &PsActiveProcessHead; e = e->Flink) {
            EPROCESS *p = CONTAINING_RECORD(e, EPROCESS, ActiveProcessLinks);
            MiTrimWorkingSet(p, &aged, &trimmed);
            if (MiAggressiveTrim && p->Vm.VmWorkingSetList) MiForEachUserPde(p, MiTrimPageTable, &tables);
        }
        ULONG64 written = MiModifiedPageWriter();
        MmBalancePasses++;
        BOOLEAN quiet = !aged && !trimmed && !tables && !written;
        if (trimmed) MiEverTrimmed = TRUE;
        BOOLEAN settle = quiet && MiEverTrimmed && !MmWorkloadSettled;
        if (!quiet || settle) {
            DbgPrint("frost-guest: balance pass=%llu aged=%llu trimmed=%llu tables=%llu written=%llu modified=%llu "
                     "standby=%llu free=%llu\n",
                     MmBalancePasses, aged, trimmed, tables, written, MmModifiedPageListHead.Total,
                     MmStandbyPageListHead.Total, MmFreePageListHead.Total);
            for (LIST_ENTRY *e = PsActiveProcessHead.Flink; e != &PsActiveProcessHead; e = e->Flink) {
                EPROCESS *p = CONTAINING_RECORD(e, EPROCESS, ActiveProcessLinks);
                if (p->Vm.VmWorkingSetList && p->Vm.PeakWorkingSetSize > p->Vm.MinimumWorkingSetSize)
                    MiReportProcess(p, settle);
            }
        }
        if (settle) {
            MmWorkloadSettled = TRUE;
            DbgPrint("frost-guest: settled pass=%llu\n", MmBalancePasses);
        }
    }
}

void MiStartBalanceSetManager(LOADER_PARAMETER_BLOCK *lb) {
    MiAggressiveTrim = (lb->Flags & LOADER_FLAG_AGGRESSIVE_TRIM) != 0;
    PspCreateThread(PsInitialSystemProcess, KeBalanceSetManager, NULL);
}
