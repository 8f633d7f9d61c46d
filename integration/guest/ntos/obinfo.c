/*
 * NtQuerySystemInformation(SystemExtendedHandleInformation): every handle
 * of every handle table on HandleTableListHead, one
 * SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX each, as Windows 10 returns them.
 *
 * ObpCaptureHandleInformationEx decodes an entry the way Windows 10 does:
 * the entry's first quadword holds the object header's address in its top
 * 44 bits (ObjectPointerBits, the address >> 4), so an arithmetic shift
 * right by 16 brings those bits to 4..47 and copies bit 47 (set for every
 * kernel address) into the top 16: the canonical header address, once
 * the low four bits (Unlocked and RefCnt's top bit, Attributes) are masked.
 */
#include "ke.h"
#include "ob.h"

LIST_ENTRY HandleTableListHead = {&HandleTableListHead, &HandleTableListHead};

/* Puts a new table on HandleTableListHead (ExCreateHandleTable). */
void ExpInsertHandleTable(HANDLE_TABLE *ht) {
    ht->HandleTableList.Flink = &HandleTableListHead;
    ht->HandleTableList.Blink = HandleTableListHead.Blink;
    HandleTableListHead.Blink->Flink = &ht->HandleTableList;
    HandleTableListHead.Blink = &ht->HandleTableList;
}

/* Adds the record for one in-use entry at *cursor if it still fits in
   length bytes (counted in *required either way). */
NOINLINE NTSTATUS ObpCaptureHandleInformationEx(SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX **cursor, HANDLE UniqueProcessId,
                                                HANDLE_TABLE_ENTRY *entry, HANDLE HandleValue, ULONG length,
                                                ULONG *required) {
    LONG64 low = entry->LowValue;
    OBJECT_HEADER *h = (OBJECT_HEADER *)((low >> 16) & ~0xfll);
    *required += sizeof(SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX);
    if (*required > length) return STATUS_INFO_LENGTH_MISMATCH;
    SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX *r = *cursor;
    OBJECT_TYPE *type = ObGetObjectType(&h->Body);
    r->Object = &h->Body;
    r->UniqueProcessId = (ULONG64)UniqueProcessId;
    r->HandleValue = (ULONG64)HandleValue;
    r->GrantedAccess = entry->GrantedAccessBits;
    r->CreatorBackTraceIndex = 0;
    r->ObjectTypeIndex = type ? type->Index : 0;
    r->HandleAttributes = (ULONG)entry->Attributes;
    r->Reserved = 0;
    *cursor = r + 1;
    return STATUS_SUCCESS;
}

/* Fills info (length bytes, already probed) with every handle of the
   system; STATUS_INFO_LENGTH_MISMATCH and the length needed in *required
   when it is too small, as on Windows. */
NTSTATUS ExpQuerySystemHandleInformationEx(SYSTEM_HANDLE_INFORMATION_EX *info, ULONG length, ULONG *required) {
    ULONG need = (ULONG)offsetof(SYSTEM_HANDLE_INFORMATION_EX, Handles);
    NTSTATUS st = need <= length ? STATUS_SUCCESS : STATUS_INFO_LENGTH_MISMATCH;
    ULONG64 count = 0;
    SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX *cursor = info->Handles;
    for (LIST_ENTRY *l = HandleTableListHead.Flink; l != &HandleTableListHead; l = l->Flink) {
        HANDLE_TABLE *ht = CONTAINING_RECORD(l, HANDLE_TABLE, HandleTableList);
        for (ULONG64 handle = 4; handle < ht->NextHandleNeedingPool; handle += 4) {
            HANDLE_TABLE_ENTRY *e = ExpLookupHandleTableEntry(ht, handle);
            if (!e || !e->LowValue || ((handle >> 2) % HANDLES_PER_PAGE) == 0) continue;
            count++;
            NTSTATUS cst = ObpCaptureHandleInformationEx(&cursor, (HANDLE)(ULONG64)ht->UniqueProcessId, e,
                                                         (HANDLE)handle, length, &need);
            if (!NT_SUCCESS(cst)) st = cst;
        }
    }
    if (NT_SUCCESS(st)) {
        info->NumberOfHandles = count;
        info->Reserved = 0;
    }
    *required = need;
    return st;
}
