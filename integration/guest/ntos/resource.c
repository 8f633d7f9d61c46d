/*
 * Executive resources (_ERESOURCE): the shared/exclusive locks Windows
 * puts on its executive structures, each on ExpSystemResourcesList (which
 * the debugger data block names). mini-NT runs one processor and never
 * preempts the kernel, so a resource is never contended: acquiring it
 * records the owner and count, as Windows does, and never waits.
 */
#include "kobj.h"
#include "ke.h"

LIST_ENTRY ExpSystemResourcesList = {&ExpSystemResourcesList, &ExpSystemResourcesList};

/* Flag bits */
#define ResourceOwnedExclusive 0x0001

NTSTATUS ExInitializeResourceLite(ERESOURCE *r) {
    memset(r, 0, sizeof(*r));
    r->SystemResourcesList.Flink = &ExpSystemResourcesList;
    r->SystemResourcesList.Blink = ExpSystemResourcesList.Blink;
    ExpSystemResourcesList.Blink->Flink = &r->SystemResourcesList;
    ExpSystemResourcesList.Blink = &r->SystemResourcesList;
    r->Address = (PVOID)ExInitializeResourceLite;
    return STATUS_SUCCESS;
}

static void ExpAcquire(ERESOURCE *r, BOOLEAN exclusive) {
    KTHREAD *t = KeGetCurrentThread();
    if (r->ActiveCount && (exclusive || (r->Flag & ResourceOwnedExclusive)) && r->OwnerEntry.OwnerThread != (ULONG64)t)
        KeBugCheckEx(0xE3 /* RESOURCE_NOT_OWNED */, (ULONG64)r, (ULONG64)t, r->OwnerEntry.OwnerThread, 0);
    r->OwnerEntry.OwnerThread = (ULONG64)t;
    r->OwnerEntry.OwnerCount++;
    if (!r->ActiveCount++) r->ActiveEntries = 1;
    if (exclusive) r->Flag |= ResourceOwnedExclusive;
}

BOOLEAN ExAcquireResourceExclusiveLite(ERESOURCE *r, BOOLEAN wait) {
    (void)wait;
    ExpAcquire(r, TRUE);
    return TRUE;
}

BOOLEAN ExAcquireResourceSharedLite(ERESOURCE *r, BOOLEAN wait) {
    (void)wait;
    ExpAcquire(r, FALSE);
    return TRUE;
}

void ExReleaseResourceLite(ERESOURCE *r) {
    if (r->ActiveCount <= 0) KeBugCheckEx(0xE3 /* RESOURCE_NOT_OWNED */, (ULONG64)r, 0, 0, 0);
    r->OwnerEntry.OwnerCount--;
    if (--r->ActiveCount == 0) {
        r->OwnerEntry.OwnerThread = 0;
        r->ActiveEntries = 0;
        r->Flag &= ~ResourceOwnedExclusive;
    }
}
