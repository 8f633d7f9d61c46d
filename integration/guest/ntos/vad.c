/*
 * Virtual address descriptors: an AVL tree of _MMVAD_SHORT/_MMVAD under
 * EPROCESS.VadRoot, with parent pointers and the balance in
 * VadNode.ParentValue's low two bits, as Windows' RTL_AVL_TREE keeps them,
 * and the private-memory services NtAllocateVirtualMemory and
 * NtFreeVirtualMemory.
 */
#include "ke.h"

#define MEM_COMMIT 0x1000
#define MEM_RESERVE 0x2000
#define MEM_DECOMMIT 0x4000
#define MEM_RELEASE 0x8000
#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_EXECUTE_READ 0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define STATUS_CONFLICTING_ADDRESSES ((NTSTATUS)0xC0000018)
#define STATUS_MEMORY_NOT_ALLOCATED ((NTSTATUS)0xC00000A0)
#define STATUS_INVALID_PAGE_PROTECTION ((NTSTATUS)0xC0000045)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002)
#define ALLOCATION_GRANULARITY 0x10000ull
#define MM_FIRST_FREE_USER_ADDRESS 0x20000000ull

/* ---- the AVL tree ---------------------------------------------------------- */

static RTL_BALANCED_NODE *Parent(RTL_BALANCED_NODE *n) { return (RTL_BALANCED_NODE *)(n->ParentValue & ~3ull); }
static int Balance(RTL_BALANCED_NODE *n) {
    int b = (int)(n->ParentValue & 3);
    return b == 3 ? -1 : b;
}
static void SetParent(RTL_BALANCED_NODE *n, RTL_BALANCED_NODE *p) { n->ParentValue = (ULONG64)p | (n->ParentValue & 3); }
static void SetBalance(RTL_BALANCED_NODE *n, int b) { n->ParentValue = (n->ParentValue & ~3ull) | (ULONG64)(b & 3); }

static void ReplaceChild(RTL_AVL_TREE *t, RTL_BALANCED_NODE *p, RTL_BALANCED_NODE *old, RTL_BALANCED_NODE *n) {
    if (!p)
        t->Root = n;
    else
        p->Children[p->Right == old] = n;
}

/* Rotates x down in direction dir (0: left, its right child comes up). */
static void Rotate(RTL_AVL_TREE *t, RTL_BALANCED_NODE *x, int dir) {
    RTL_BALANCED_NODE *y = x->Children[!dir], *p = Parent(x);
    x->Children[!dir] = y->Children[dir];
    if (y->Children[dir]) SetParent(y->Children[dir], x);
    SetParent(y, p);
    ReplaceChild(t, p, x, y);
    y->Children[dir] = x;
    SetParent(x, y);
}

/* Restores the AVL property on the way up from a new leaf n. */
static void Rebalance(RTL_AVL_TREE *t, RTL_BALANCED_NODE *n) {
    for (RTL_BALANCED_NODE *p; (p = Parent(n)); n = p) {
        int b = Balance(p) + (n == p->Right ? 1 : -1);
        if (b == 0) {
            SetBalance(p, 0);
            return;
        }
        if (b == 1 || b == -1) {
            SetBalance(p, b);
            continue;
        }
        int heavy = b > 0 ? 1 : -1; /* 1: right-heavy */
        int dir = b > 0 ? 0 : 1;    /* rotation that fixes it */
        if (Balance(n) == heavy) {
            Rotate(t, p, dir);
            SetBalance(p, 0);
            SetBalance(n, 0);
        } else {
            RTL_BALANCED_NODE *c = n->Children[dir];
            int cb = Balance(c);
            Rotate(t, n, !dir);
            Rotate(t, p, dir);
            SetBalance(p, cb == heavy ? -heavy : 0);
            SetBalance(n, cb == -heavy ? heavy : 0);
            SetBalance(c, 0);
        }
        return;
    }
}

ULONG64 MiVadStart(MMVAD_SHORT *v) { return (((ULONG64)v->StartingVpnHigh << 32) | v->StartingVpn) << PAGE_SHIFT; }
ULONG64 MiVadEnd(MMVAD_SHORT *v) { return ((((ULONG64)v->EndingVpnHigh << 32) | v->EndingVpn) + 1) << PAGE_SHIFT; }

static MMVAD_SHORT *VadOf(RTL_BALANCED_NODE *n) { return CONTAINING_RECORD(n, MMVAD_SHORT, VadNode); }

/* _EPROCESS.CommitCharge: the pages its private VADs charge. */
static void MiChargeCommitment(EPROCESS *p, ULONG64 pages) {
    p->CommitCharge += pages;
    if (p->CommitCharge > p->CommitChargePeak) p->CommitChargePeak = p->CommitCharge;
}

void MiInsertVad(EPROCESS *p, MMVAD_SHORT *vad) {
    RTL_BALANCED_NODE **link = &p->VadRoot.Root, *parent = NULL;
    ULONG64 key = MiVadStart(vad);
    while (*link) {
        parent = *link;
        link = &parent->Children[key > MiVadStart(VadOf(parent))];
    }
    vad->VadNode.Left = vad->VadNode.Right = NULL;
    vad->VadNode.ParentValue = (ULONG64)parent;
    *link = &vad->VadNode;
    Rebalance(&p->VadRoot, &vad->VadNode);
    p->VadCount++;
    /* VADs are never freed (decommitting keeps them): the reserved size
       only grows, and private commitment is what the VADs charge. */
    p->VirtualSize += MiVadEnd(vad) - MiVadStart(vad);
    if (p->VirtualSize > p->PeakVirtualSize) p->PeakVirtualSize = p->VirtualSize;
    if (vad->u.VadFlags.PrivateMemory) MiChargeCommitment(p, vad->u1.VadFlags1.CommitCharge);
}

MMVAD_SHORT *MiLocateAddress(EPROCESS *p, ULONG64 va) {
    RTL_BALANCED_NODE *n = p->VadRoot.Root;
    for (int depth = 0; n && depth < 64; depth++) {
        MMVAD_SHORT *v = VadOf(n);
        if (va < MiVadStart(v))
            n = n->Left;
        else if (va >= MiVadEnd(v))
            n = n->Right;
        else
            return v;
    }
    return NULL;
}

MMVAD_SHORT *MiFirstVad(EPROCESS *p) {
    RTL_BALANCED_NODE *n = p->VadRoot.Root;
    if (!n) return NULL;
    while (n->Left) n = n->Left;
    return VadOf(n);
}

MMVAD_SHORT *MiNextVad(MMVAD_SHORT *v) {
    RTL_BALANCED_NODE *n = &v->VadNode;
    if (n->Right) {
        n = n->Right;
        while (n->Left) n = n->Left;
        return VadOf(n);
    }
    RTL_BALANCED_NODE *p;
    while ((p = Parent(n)) && p->Right == n) n = p;
    return p ? VadOf(p) : NULL;
}

/* Fills the _MMVAD_SHORT part every VAD has. */
static void MiInitializeVadCore(MMVAD_SHORT *core, ULONG64 start, ULONG64 end, ULONG type, ULONG protection,
                                BOOLEAN priv, BOOLEAN commit) {
    ULONG64 svpn = start >> PAGE_SHIFT, evpn = (end - 1) >> PAGE_SHIFT;
    core->StartingVpn = (ULONG)svpn;
    core->StartingVpnHigh = (UCHAR)(svpn >> 32);
    core->EndingVpn = (ULONG)evpn;
    core->EndingVpnHigh = (UCHAR)(evpn >> 32);
    core->u.VadFlags.VadType = type;
    core->u.VadFlags.Protection = protection;
    core->u.VadFlags.PrivateMemory = priv;
    core->u1.VadFlags1.MemCommit = commit;
    core->u1.VadFlags1.CommitCharge = commit ? (ULONG)(evpn - svpn + 1) : 0;
}

/* Private memory needs no more than an _MMVAD_SHORT, and Windows allocates
   no more: a pool block of that size tagged VadS. */
MMVAD_SHORT *MiAllocateShortVad(ULONG64 start, ULONG64 end, ULONG protection, BOOLEAN commit) {
    MMVAD_SHORT *vad = ExAllocatePoolWithTag(NonPagedPool, sizeof(MMVAD_SHORT), 'SdaV');
    MiInitializeVadCore(vad, start, end, VadNone, protection, TRUE, commit);
    return vad;
}

/* A mapped view's VAD: a whole _MMVAD, tagged "Vad ", whose subsection
   and file object name what it maps. */
MMVAD *MiAllocateVad(ULONG64 start, ULONG64 end, ULONG type, ULONG protection, BOOLEAN priv, BOOLEAN commit) {
    MMVAD *vad = ExAllocatePoolWithTag(NonPagedPool, sizeof(MMVAD), ' daV');
    MiInitializeVadCore(&vad->Core, start, end, type, protection, priv, commit);
    vad->ViewLinks.Flink = vad->ViewLinks.Blink = &vad->ViewLinks;
    return vad;
}

static BOOLEAN MiRangeIsFree(EPROCESS *p, ULONG64 start, ULONG64 end) {
    for (MMVAD_SHORT *v = MiFirstVad(p); v; v = MiNextVad(v))
        if (start < MiVadEnd(v) && MiVadStart(v) < end) return FALSE;
    return TRUE;
}

/* A free, granularity-aligned range of size bytes, above the fixed ones. */
static ULONG64 MiFindEmptyAddressRange(EPROCESS *p, ULONG64 size) {
    for (ULONG64 base = MM_FIRST_FREE_USER_ADDRESS; base + size < MM_USER_PROBE_ADDRESS; base += ALLOCATION_GRANULARITY)
        if (MiRangeIsFree(p, base, base + size)) return base;
    return 0;
}

/* ---- services ------------------------------------------------------------------- */

static BOOLEAN MiWin32ToProtection(ULONG win32, ULONG *mm) {
    switch (win32) {
    case PAGE_NOACCESS:
        *mm = MM_NOACCESS;
        return TRUE;
    case PAGE_READONLY:
        *mm = MM_READONLY;
        return TRUE;
    case PAGE_READWRITE:
        *mm = MM_READWRITE;
        return TRUE;
    case PAGE_EXECUTE_READ:
        *mm = MM_EXECUTE_READ;
        return TRUE;
    case PAGE_EXECUTE_READWRITE:
        *mm = MM_EXECUTE_READWRITE;
        return TRUE;
    }
    return FALSE;
}

static BOOLEAN MiIsCurrentProcess(HANDLE h) { return h == NULL || h == (HANDLE)-1; }

NTSTATUS NtAllocateVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, ULONG64 ZeroBits, SIZE_T *RegionSize,
                                 ULONG AllocationType, ULONG Protect) {
    (void)ZeroBits;
    if (!MiIsCurrentProcess(ProcessHandle)) return STATUS_INVALID_HANDLE;
    if (!MmProbeUserRange(BaseAddress, sizeof(PVOID), TRUE) || !MmProbeUserRange(RegionSize, sizeof(SIZE_T), TRUE))
        return STATUS_ACCESS_VIOLATION;
    ULONG prot;
    if (!MiWin32ToProtection(Protect, &prot)) return STATUS_INVALID_PAGE_PROTECTION;
    if (!(AllocationType & (MEM_COMMIT | MEM_RESERVE)) || (AllocationType & ~(MEM_COMMIT | MEM_RESERVE)))
        return STATUS_INVALID_PARAMETER;
    EPROCESS *p = PsGetCurrentProcess();
    ULONG64 base = (ULONG64)*BaseAddress, size = *RegionSize;
    if (size == 0 || size > MM_USER_PROBE_ADDRESS) return STATUS_INVALID_PARAMETER;

    if (AllocationType & MEM_RESERVE) {
        base &= ~(ALLOCATION_GRANULARITY - 1);
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        if (!base) base = MiFindEmptyAddressRange(p, size);
        if (!base) return STATUS_NO_MEMORY;
        if (base < MM_LOWEST_USER_ADDRESS || base + size > MM_USER_PROBE_ADDRESS) return STATUS_INVALID_PARAMETER;
        if (!MiRangeIsFree(p, base, base + size)) return STATUS_CONFLICTING_ADDRESSES;
        /* Reserve and commit in one call: the VAD says committed, and the
           PTEs stay zero until the first touch. */
        MiInsertVad(p, MiAllocateShortVad(base, base + size, prot, (AllocationType & MEM_COMMIT) != 0));
    } else {
        /* Commit inside a reservation: demand-zero PTEs carry the
           protection. */
        ULONG64 end = (base + size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        base &= ~(PAGE_SIZE - 1);
        size = end - base;
        MMVAD_SHORT *vad = MiLocateAddress(p, base);
        if (!vad || !vad->u.VadFlags.PrivateMemory || end > MiVadEnd(vad)) return STATUS_MEMORY_NOT_ALLOCATED;
        ULONG64 dtb = p->Pcb.DirectoryTableBase;
        for (ULONG64 va = base; va < end; va += PAGE_SIZE) {
            MMPTE *pte = MiGetPteAddressCreate(dtb, va, 0);
            MMPTE cur;
            cur.u.Long = MiReadPte(pte);
            if (cur.u.Long == 0 || (!cur.u.Hard.Valid && cur.u.Soft.Protection == MM_DECOMMIT &&
                                    !cur.u.Soft.Transition && !cur.u.Soft.PageFileHigh))
                MiWriteInvalidPte(pte, MiMakeDemandZeroPte(prot));
        }
        vad->u1.VadFlags1.CommitCharge += (ULONG)(size >> PAGE_SHIFT);
        MiChargeCommitment(p, size >> PAGE_SHIFT);
    }
    *BaseAddress = (PVOID)base;
    *RegionSize = size;
    return STATUS_SUCCESS;
}

void MiReleasePageForPte(EPROCESS *p, ULONG64 va, MMPTE *pte); /* fault.c */

NTSTATUS NtFreeVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, SIZE_T *RegionSize, ULONG FreeType) {
    if (!MiIsCurrentProcess(ProcessHandle)) return STATUS_INVALID_HANDLE;
    if (!MmProbeUserRange(BaseAddress, sizeof(PVOID), TRUE) || !MmProbeUserRange(RegionSize, sizeof(SIZE_T), TRUE))
        return STATUS_ACCESS_VIOLATION;
    if (FreeType == MEM_RELEASE) return STATUS_NOT_IMPLEMENTED; /* mini-NT never releases a VAD */
    if (FreeType != MEM_DECOMMIT) return STATUS_INVALID_PARAMETER;
    EPROCESS *p = PsGetCurrentProcess();
    ULONG64 base = (ULONG64)*BaseAddress & ~(PAGE_SIZE - 1);
    ULONG64 end = ((ULONG64)*BaseAddress + *RegionSize + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    MMVAD_SHORT *vad = MiLocateAddress(p, base);
    if (!vad || !vad->u.VadFlags.PrivateMemory || end > MiVadEnd(vad) || end <= base)
        return STATUS_MEMORY_NOT_ALLOCATED;
    ULONG64 dtb = p->Pcb.DirectoryTableBase;
    for (ULONG64 va = base; va < end; va += PAGE_SIZE) {
        MMPTE *pte = MiGetPteAddressCreate(dtb, va, 0);
        MiReleasePageForPte(p, va, pte);
        /* Decommitted: protection MM_DECOMMIT, as Windows writes it. */
        MiWriteInvalidPte(pte, MiMakeDemandZeroPte(MM_DECOMMIT));
        __invlpg(va);
    }
    *BaseAddress = (PVOID)base;
    *RegionSize = end - base;
    return STATUS_SUCCESS;
}
