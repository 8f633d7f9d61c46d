/*
 * The page-fault handler (MmAccessFault) and working sets: every user page
 * that becomes valid joins its process's working set, which the balance set
 * manager (wsmgr.c) trims.
 *
 * The PTE states are decoded in Windows' order after unswizzling: valid,
 * prototype, transition, then software (pagefile, demand-zero, decommit).
 */
#include "ke.h"

#define MM_WORKING_SET_ENTRIES 8192
#define MM_MINIMUM_WORKING_SET 32

void MiInitializeWorkingSet(EPROCESS *p) {
    MMWSL *ws = ExAllocatePoolWithTag(NonPagedPool, sizeof(MMWSL), 'lswM');
    ws->MaximumEntries = MM_WORKING_SET_ENTRIES;
    ws->Wsle = ExAllocatePoolWithTag(NonPagedPool, MM_WORKING_SET_ENTRIES * sizeof(ULONG64), 'lswM');
    p->Vm.VmWorkingSetList = ws;
    p->Vm.MinimumWorkingSetSize = MM_MINIMUM_WORKING_SET;
}

static void MiCompactWorkingSet(MMWSL *ws) {
    ULONG64 j = 0;
    for (ULONG64 i = 0; i < ws->LastEntry; i++)
        if (ws->Wsle[i]) ws->Wsle[j++] = ws->Wsle[i];
    ws->LastEntry = j;
}

void MiAddToWorkingSet(EPROCESS *p, ULONG64 va) {
    MMWSL *ws = p->Vm.VmWorkingSetList;
    if (!ws) return;
    if (ws->LastEntry == ws->MaximumEntries) MiCompactWorkingSet(ws);
    if (ws->LastEntry == ws->MaximumEntries) return; /* untracked: stays resident */
    ws->Wsle[ws->LastEntry++] = va;
    p->Vm.WorkingSetSize++;
    if (p->Vm.WorkingSetSize > p->Vm.PeakWorkingSetSize) p->Vm.PeakWorkingSetSize = p->Vm.WorkingSetSize;
}

static void MiRemoveFromWorkingSet(EPROCESS *p, ULONG64 va) {
    MMWSL *ws = p->Vm.VmWorkingSetList;
    for (ULONG64 i = 0; ws && i < ws->LastEntry; i++) {
        if (ws->Wsle[i] == va) {
            ws->Wsle[i] = 0;
            p->Vm.WorkingSetSize--;
            return;
        }
    }
}

/* Maps pfn at va as a valid user page and records it. */
static void MiMakeUserPageValid(EPROCESS *p, ULONG64 va, MMPTE *pte, ULONG64 pfn, ULONG protection, BOOLEAN write) {
    MMPTE v = MiMakeValidPte(pfn << PAGE_SHIFT, TRUE, MiProtectionWritable(protection), MiProtectionExecutable(protection));
    v.u.Hard.Dirty = write;
    *pte = v;
    __invlpg(va);
    MiAddToWorkingSet(p, va);
}

static ULONG64 MiNewPrivatePage(MMPTE *pte, ULONG protection) {
    ULONG64 pfn = MiRemoveAnyPage();
    MMPFN *pf = MI_PFN(pfn);
    pf->PteAddress = pte;
    pf->OriginalPte.u.Long = MiMakeDemandZeroPte(protection);
    pf->u2.ShareCount = 1;
    return pfn;
}

/* Reads a file-backed page for the prototype PTE proto of subsection s. */
NTSTATUS MiReadFilePage(SUBSECTION *s, MMPTE *proto, PVOID dst) {
    FILE_OBJECT *fo = (FILE_OBJECT *)(s->ControlArea->FilePointer.Value & ~0xfull);
    FROSTFS_ENTRY *e = fo->FsContext;
    ULONG64 offset = (ULONG64)s->StartingSector * 512 + (ULONG64)(proto - s->SubsectionBase) * PAGE_SIZE;
    memset(dst, 0, PAGE_SIZE);
    if (offset >= e->FileSize) return STATUS_SUCCESS;
    ULONG64 n = e->FileSize - offset < PAGE_SIZE ? e->FileSize - offset : PAGE_SIZE;
    return FsRead(e, offset, dst, n);
}

/* Brings a trimmed page-table page back: from its transition frame or from
   the paging file. */
void MiMakePageTableResident(MMPTE *pde) {
    MMPTE cur;
    cur.u.Long = MiReadPte(pde);
    ULONG64 pfn;
    if (cur.u.Trans.Transition && !cur.u.Proto.Prototype) {
        pfn = cur.u.Trans.PageFrameNumber;
        MiUnlinkPageFromList(pfn);
    } else if (cur.u.Soft.PageFileHigh) {
        pfn = MiRemoveAnyPage();
        NTSTATUS st = MiReadPagefilePage((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh,
                                         MmGetVirtualForPhysical(pfn << PAGE_SHIFT));
        if (!NT_SUCCESS(st)) KeBugCheckEx(0x7A /* KERNEL_DATA_INPAGE_ERROR */, (ULONG64)(ULONG)st, (ULONG64)pde, 0, 0);
        MiFreePagefileSlot((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh);
    } else {
        return;
    }
    MMPFN *pf = MI_PFN(pfn);
    pf->PteAddress = pde;
    pf->u3.e1.Modified = 1;
    *pde = MiMakeValidPte(pfn << PAGE_SHIFT, TRUE, TRUE, TRUE);
}

/* Resolves a fault through the prototype PTE proto of a mapped view. */
static NTSTATUS MiResolveProtoFault(EPROCESS *p, MMVAD *vad, ULONG64 va, MMPTE *pte, MMPTE *proto, BOOLEAN write) {
    SUBSECTION *s = vad->Subsection;
    while (s && !(proto >= s->SubsectionBase && proto < s->SubsectionBase + s->PtesInSubsection)) s = s->NextSubsection;
    if (!s) return STATUS_ACCESS_VIOLATION;
    ULONG protection = s->u.SubsectionFlags.Protection;
    if (write && !MiProtectionWritable(protection)) return STATUS_ACCESS_VIOLATION;

    MMPTE cur;
    cur.u.Long = MiReadPte(proto);
    ULONG64 pfn;
    if (cur.u.Hard.Valid) {
        pfn = cur.u.Hard.PageFrameNumber;
        MI_PFN(pfn)->u2.ShareCount++;
    } else {
        if (cur.u.Trans.Transition && !cur.u.Proto.Prototype) {
            pfn = cur.u.Trans.PageFrameNumber;
            BOOLEAN modified = MI_PFN(pfn)->u3.e1.Modified;
            MiUnlinkPageFromList(pfn);
            MI_PFN(pfn)->u3.e1.Modified = modified;
        } else if (cur.u.Proto.Prototype) { /* a subsection PTE: the page is only in the file */
            pfn = MiRemoveAnyPage();
            NTSTATUS st = MiReadFilePage(s, proto, MmGetVirtualForPhysical(pfn << PAGE_SHIFT));
            if (!NT_SUCCESS(st)) {
                MiInsertPageInFreeList(pfn);
                return st;
            }
            MI_PFN(pfn)->OriginalPte.u.Long = cur.u.Long;
        } else if (cur.u.Soft.PageFileHigh) {
            pfn = MiRemoveAnyPage();
            NTSTATUS st = MiReadPagefilePage((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh,
                                             MmGetVirtualForPhysical(pfn << PAGE_SHIFT));
            if (!NT_SUCCESS(st)) {
                MiInsertPageInFreeList(pfn);
                return st;
            }
            MiFreePagefileSlot((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh);
            MI_PFN(pfn)->u3.e1.Modified = 1;
            MI_PFN(pfn)->OriginalPte.u.Long = MiMakeDemandZeroPte(protection);
        } else {
            pfn = MiAllocatePhysicalPage() >> PAGE_SHIFT;
            MI_PFN(pfn)->u3.e1.Modified = 1;
            MI_PFN(pfn)->OriginalPte.u.Long = MiMakeDemandZeroPte(protection);
        }
        MMPFN *pf = MI_PFN(pfn);
        pf->PteAddress = proto;
        pf->u4.PrototypePte = 1;
        pf->u2.ShareCount = 1;
        *proto = MiMakeValidPte(pfn << PAGE_SHIFT, FALSE, FALSE, FALSE);
    }
    MiMakeUserPageValid(p, va, pte, pfn, protection, FALSE);
    return STATUS_SUCCESS;
}

NTSTATUS MmAccessFault(ULONG64 va, BOOLEAN write, BOOLEAN user) {
    (void)user;
    EPROCESS *p = PsGetCurrentProcess();
    if (va >= MM_USER_PROBE_ADDRESS || va < MM_LOWEST_USER_ADDRESS) return STATUS_ACCESS_VIOLATION;
    va &= ~(PAGE_SIZE - 1);
    MMVAD_SHORT *vad = MiLocateAddress(p, va);
    ULONG64 dtb = p->Pcb.DirectoryTableBase;
    MMPTE *pte = MiGetPteAddress(dtb, va, 0);
    if (!pte && !vad) return STATUS_ACCESS_VIOLATION;
    if (!pte) pte = MiGetPteAddressCreate(dtb, va, 0);

    MMPTE cur;
    cur.u.Long = MiReadPte(pte);
    if (cur.u.Hard.Valid) return write && !cur.u.Hard.Dirty1 ? STATUS_ACCESS_VIOLATION : STATUS_SUCCESS;
    p->Vm.PageFaultCount++;

    if (cur.u.Proto.Prototype) {
        if (!vad || vad->u.VadFlags.PrivateMemory) return STATUS_ACCESS_VIOLATION;
        MMVAD *mv = CONTAINING_RECORD(vad, MMVAD, Core);
        MMPTE *proto = cur.u.Proto.ProtoAddress == (LONG64)0xFFFFFFFFFFFF0000ll || cur.u.Proto.ProtoAddress == MI_PTE_LOOKUP_NEEDED
                           ? MiVadPrototypePte(mv, va)
                           : (MMPTE *)cur.u.Proto.ProtoAddress;
        return MiResolveProtoFault(p, mv, va, pte, proto, write);
    }
    if (cur.u.Trans.Transition) {
        ULONG protection = cur.u.Trans.Protection;
        if (write && !MiProtectionWritable(protection)) return STATUS_ACCESS_VIOLATION;
        ULONG64 pfn = cur.u.Trans.PageFrameNumber;
        BOOLEAN modified = MI_PFN(pfn)->u3.e1.Modified;
        MiUnlinkPageFromList(pfn);
        MMPFN *pf = MI_PFN(pfn);
        pf->u3.e1.Modified = modified;
        pf->u2.ShareCount = 1;
        pf->PteAddress = pte;
        MiMakeUserPageValid(p, va, pte, pfn, protection, write);
        return STATUS_SUCCESS;
    }
    if (cur.u.Long == 0) {
        if (!vad) return STATUS_ACCESS_VIOLATION;
        if (!vad->u.VadFlags.PrivateMemory) {
            MMVAD *mv = CONTAINING_RECORD(vad, MMVAD, Core);
            return MiResolveProtoFault(p, mv, va, pte, MiVadPrototypePte(mv, va), write);
        }
        if (!vad->u1.VadFlags1.MemCommit) return STATUS_ACCESS_VIOLATION;
        cur.u.Long = MiMakeDemandZeroPte(vad->u.VadFlags.Protection);
    }
    ULONG protection = cur.u.Soft.Protection;
    if (protection == 0 || protection == MM_DECOMMIT || (protection & MM_NOACCESS) == MM_NOACCESS)
        return STATUS_ACCESS_VIOLATION;
    if (write && !MiProtectionWritable(protection)) return STATUS_ACCESS_VIOLATION;
    ULONG64 pfn = MiNewPrivatePage(pte, protection);
    PVOID page = MmGetVirtualForPhysical(pfn << PAGE_SHIFT);
    if (cur.u.Soft.PageFileHigh) {
        NTSTATUS st = MiReadPagefilePage((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh, page);
        if (!NT_SUCCESS(st)) {
            MiInsertPageInFreeList(pfn);
            return st;
        }
        MiFreePagefileSlot((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh);
        MI_PFN(pfn)->u3.e1.Modified = 1; /* its only copy is now in RAM */
    } else {
        memset(page, 0, PAGE_SIZE);
    }
    MiMakeUserPageValid(p, va, pte, pfn, protection, write);
    return STATUS_SUCCESS;
}

/* Takes whatever page the PTE holds away from it (decommit). */
void MiReleasePageForPte(EPROCESS *p, ULONG64 va, MMPTE *pte) {
    MMPTE cur;
    cur.u.Long = MiReadPte(pte);
    if (cur.u.Hard.Valid) {
        MiRemoveFromWorkingSet(p, va);
        MiInsertPageInFreeList(cur.u.Hard.PageFrameNumber);
    } else if (cur.u.Trans.Transition && !cur.u.Proto.Prototype) {
        MiUnlinkPageFromList(cur.u.Trans.PageFrameNumber);
        MiInsertPageInFreeList(cur.u.Trans.PageFrameNumber);
    } else if (!cur.u.Proto.Prototype && cur.u.Soft.PageFileHigh) {
        MiFreePagefileSlot((ULONG)cur.u.Soft.PageFileLow, cur.u.Soft.PageFileHigh);
    }
}

/* Trims one valid page of p's working set: private pages go to transition,
   shared ones leave a prototype pointer behind. */
void MiTrimPage(EPROCESS *p, ULONG64 va, MMPTE *pte, BOOLEAN realProtoPointer) {
    (void)p;
    ULONG64 pfn = pte->u.Hard.PageFrameNumber;
    MMPFN *pf = MI_PFN(pfn);
    BOOLEAN dirty = pte->u.Hard.Dirty || pf->u3.e1.Modified;
    if (pf->u4.PrototypePte) {
        MiWriteInvalidPte(pte, MiMakeProtoPointerPte(realProtoPointer ? pf->PteAddress : NULL));
        pf->u3.e1.Modified = dirty;
        if (--pf->u2.ShareCount == 0) {
            MiWriteInvalidPte(pf->PteAddress, MiMakeTransitionPte(pfn, (ULONG)pf->OriginalPte.u.Soft.Protection));
            MiInsertPageInList(dirty ? &MmModifiedPageListHead : &MmStandbyPageListHead, pfn);
        }
    } else {
        MiWriteInvalidPte(pte, MiMakeTransitionPte(pfn, (ULONG)pf->OriginalPte.u.Soft.Protection));
        pf->u3.e1.Modified = dirty;
        MiInsertPageInList(dirty ? &MmModifiedPageListHead : &MmStandbyPageListHead, pfn);
    }
    __invlpg(va);
}
