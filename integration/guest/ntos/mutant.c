/*
 * Mutants (Win32 mutexes): NtCreateMutant, named in the object namespace
 * as Windows names them (\BaseNamedObjects\...). A mutant created with
 * InitialOwner is owned by the calling thread at once: SignalState 0,
 * OwnerThread the caller, and on the caller's MutantListHead. mini-NT has
 * no wait on mutants: nothing releases or acquires one afterwards.
 */
#include "ke.h"
#include "kobj.h"

static void MutantInsertTail(LIST_ENTRY *head, LIST_ENTRY *e) {
    e->Flink = head;
    e->Blink = head->Blink;
    head->Blink->Flink = e;
    head->Blink = e;
}

NTSTATUS NtCreateMutant(PHANDLE MutantHandle, ACCESS_MASK DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                        BOOLEAN InitialOwner) {
    if (!MmProbeUserRange(MutantHandle, sizeof(HANDLE), TRUE)) return STATUS_ACCESS_VIOLATION;
    if (ObjectAttributes && !MmProbeUserRange(ObjectAttributes, sizeof(OBJECT_ATTRIBUTES), FALSE))
        return STATUS_ACCESS_VIOLATION;
    /* Names are full paths: a RootDirectory handle is not supported. */
    if (ObjectAttributes && ObjectAttributes->RootDirectory) return STATUS_INVALID_PARAMETER;
    char path[128];
    SIZE_T len = 0;
    NTSTATUS st = STATUS_SUCCESS;
    KMUTANT *m;
    if (ObjectAttributes && ObjectAttributes->ObjectName) {
        st = ExCaptureUnicodeToAscii(ObjectAttributes->ObjectName, path, sizeof(path), &len);
        if (!NT_SUCCESS(st)) return st;
        m = ObCreateNamedObject(ExMutantObjectType, sizeof(KMUTANT), path, len, &st);
        if (!m) return st;
    } else {
        m = ObCreateObject(ExMutantObjectType, sizeof(KMUTANT));
        path[0] = 0;
    }
    m->Header.Type = MutantObject;
    m->Header.Size = (UCHAR)(sizeof(KMUTANT) / sizeof(LONG));
    m->Header.WaitListHead.Flink = m->Header.WaitListHead.Blink = &m->Header.WaitListHead;
    KTHREAD *owner = InitialOwner ? KeGetCurrentThread() : NULL;
    if (owner) {
        m->Header.SignalState = 0;
        m->OwnerThread = owner;
        MutantInsertTail(&owner->MutantListHead, &m->MutantListEntry);
    } else {
        m->Header.SignalState = 1;
        m->MutantListEntry.Flink = m->MutantListEntry.Blink = &m->MutantListEntry;
    }
    HANDLE h;
    st = ObInsertObject(m, DesiredAccess, &h);
    if (!NT_SUCCESS(st)) return st;
    *MutantHandle = h;
    ETHREAD *et = owner ? CONTAINING_RECORD(owner, ETHREAD, Tcb) : NULL;
    EPROCESS *p = PsGetCurrentProcess();
    DbgPrint("frost-guest: mutant name=%s object=0x%llx header=0x%llx pid=%llu handle=0x%llx owner-thread=0x%llx "
             "owner-tid=%llu signal-state=%d\n",
             len ? path : "-", (ULONG64)m, (ULONG64)CONTAINING_RECORD(m, OBJECT_HEADER, Body),
             (ULONG64)p->UniqueProcessId, (ULONG64)h, (ULONG64)et, et ? (ULONG64)et->Cid.UniqueThread : 0,
             (int)m->Header.SignalState);
    return STATUS_SUCCESS;
}
