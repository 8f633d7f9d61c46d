/*
 * The object manager: object types, object headers, handle tables and a
 * small namespace (\Device\..., \??\C:).
 *
 * Encodings are Windows 10's, since Frost decodes them:
 *  - _OBJECT_HEADER.TypeIndex = index ^ ObHeaderCookie ^ byte 1 of the
 *    header's address, with the cookie drawn at random every boot;
 *  - a handle table entry holds the header address >> 4 in
 *    ObjectPointerBits and the access mask in GrantedAccessBits;
 *  - TableCode's low two bits are the table level: one page of 256 entries
 *    at level 0, a page of pointers to such pages at level 1.
 */
#include "ke.h"

UCHAR ObHeaderCookie;
OBJECT_TYPE *ObTypeIndexTable[256];
HANDLE_TABLE *ObpKernelHandleTable;

OBJECT_TYPE *ObpTypeObjectType, *ObpDirectoryObjectType, *ObpSymbolicLinkObjectType, *PsProcessType, *PsThreadType,
    *ExEventObjectType, *IoDeviceObjectType, *IoFileObjectType, *MmSectionObjectType;

#define HANDLES_PER_PAGE (PAGE_SIZE / sizeof(HANDLE_TABLE_ENTRY))
#define TABLE_LEVEL_MASK 3ull
#define MAX_LEVEL1_PAGES (PAGE_SIZE / sizeof(PVOID))

static OBJECT_HEADER *ObpHeader(PVOID body) { return CONTAINING_RECORD(body, OBJECT_HEADER, Body); }

static UCHAR ObpEncodeTypeIndex(OBJECT_HEADER *h, UCHAR index) {
    return (UCHAR)(index ^ ObHeaderCookie ^ (UCHAR)((ULONG64)h >> 8));
}

OBJECT_TYPE *ObGetObjectType(PVOID body) {
    OBJECT_HEADER *h = ObpHeader(body);
    return ObTypeIndexTable[ObpEncodeTypeIndex(h, h->TypeIndex)];
}

PVOID ObCreateObject(OBJECT_TYPE *type, SIZE_T bodySize) {
    OBJECT_HEADER *h = ExAllocatePoolWithTag(NonPagedPool, offsetof(OBJECT_HEADER, Body) + bodySize, 'tjbO');
    h->PointerCount = 1;
    h->TypeIndex = ObpEncodeTypeIndex(h, type ? type->Index : 2);
    h->Flags = 0;
    if (type) {
        type->TotalNumberOfObjects++;
        if (type->TotalNumberOfObjects > type->HighWaterNumberOfObjects)
            type->HighWaterNumberOfObjects = type->TotalNumberOfObjects;
    }
    return &h->Body;
}

static UCHAR ObpNextTypeIndex = 2; /* 0 and 1 are reserved, as in Windows */

static OBJECT_TYPE *ObpCreateType(const char *name) {
    OBJECT_TYPE *t = ObCreateObject(ObpTypeObjectType, sizeof(OBJECT_TYPE));
    t->Index = ObpNextTypeIndex++;
    RtlInitUnicodeFromAscii(&t->Name, name);
    t->TypeList.Flink = t->TypeList.Blink = &t->TypeList;
    t->CallbackList.Flink = t->CallbackList.Blink = &t->CallbackList;
    t->TypeInfo.Length = sizeof(OBJECT_TYPE_INITIALIZER);
    ObTypeIndexTable[t->Index] = t;
    return t;
}

/* ---- handle tables -------------------------------------------------------- */

HANDLE_TABLE *ExCreateHandleTable(EPROCESS *owner) {
    HANDLE_TABLE *ht = ExAllocatePoolWithTag(NonPagedPool, sizeof(HANDLE_TABLE), 'btbO');
    HANDLE_TABLE_ENTRY *page = ExAllocatePoolWithTag(NonPagedPool, PAGE_SIZE, 'btbO');
    ht->TableCode = (ULONG64)page;
    ht->NextHandleNeedingPool = HANDLES_PER_PAGE * 4;
    ht->QuotaProcess = owner;
    ht->UniqueProcessId = owner ? (ULONG)(ULONG64)owner->UniqueProcessId : 0;
    ht->HandleTableList.Flink = ht->HandleTableList.Blink = &ht->HandleTableList;
    return ht;
}

/* The entry for handle value h, or NULL past the table's end. */
static HANDLE_TABLE_ENTRY *ExpLookupHandleTableEntry(HANDLE_TABLE *ht, ULONG64 h) {
    ULONG64 index = h >> 2;
    if (h >= ht->NextHandleNeedingPool || (h & 3)) return NULL;
    ULONG64 code = ht->TableCode;
    if ((code & TABLE_LEVEL_MASK) == 0) return &((HANDLE_TABLE_ENTRY *)code)[index];
    HANDLE_TABLE_ENTRY **pages = (HANDLE_TABLE_ENTRY **)(code & ~TABLE_LEVEL_MASK);
    return &pages[index / HANDLES_PER_PAGE][index % HANDLES_PER_PAGE];
}

/* Adds a page of entries; the first growth turns a level-0 table into a
   level-1 one. */
static BOOLEAN ExpAllocateHandleTableEntrySlow(HANDLE_TABLE *ht) {
    ULONG64 code = ht->TableCode;
    HANDLE_TABLE_ENTRY **pages;
    if ((code & TABLE_LEVEL_MASK) == 0) {
        pages = ExAllocatePoolWithTag(NonPagedPool, PAGE_SIZE, 'btbO');
        pages[0] = (HANDLE_TABLE_ENTRY *)code;
        ht->TableCode = (ULONG64)pages | 1;
    } else {
        pages = (HANDLE_TABLE_ENTRY **)(code & ~TABLE_LEVEL_MASK);
    }
    ULONG64 n = ht->NextHandleNeedingPool / 4 / HANDLES_PER_PAGE;
    if (n >= MAX_LEVEL1_PAGES) return FALSE;
    pages[n] = ExAllocatePoolWithTag(NonPagedPool, PAGE_SIZE, 'btbO');
    ht->NextHandleNeedingPool += HANDLES_PER_PAGE * 4;
    return TRUE;
}

NTSTATUS ExCreateHandle(HANDLE_TABLE *ht, PVOID body, ACCESS_MASK access, HANDLE *out) {
    for (;;) {
        /* Handle 0 is never valid, and neither is the first entry of each
           page (Windows keeps it for the table's own use). */
        for (ULONG64 h = 4; h < ht->NextHandleNeedingPool; h += 4) {
            if (((h >> 2) % HANDLES_PER_PAGE) == 0) continue;
            HANDLE_TABLE_ENTRY *e = ExpLookupHandleTableEntry(ht, h);
            if (e->LowValue) continue;
            HANDLE_TABLE_ENTRY n = {0};
            n.Unlocked = 1;
            n.RefCnt = 0x7fff;
            n.ObjectPointerBits = (ULONG64)ObpHeader(body) >> 4;
            n.GrantedAccessBits = access & 0x1ffffff;
            *e = n;
            ObpHeader(body)->HandleCount++;
            ObpHeader(body)->PointerCount++;
            OBJECT_TYPE *t = ObGetObjectType(body);
            if (t) t->TotalNumberOfHandles++;
            *out = (HANDLE)h;
            return STATUS_SUCCESS;
        }
        if (!ExpAllocateHandleTableEntrySlow(ht)) return STATUS_INSUFFICIENT_RESOURCES;
    }
}

static HANDLE_TABLE *ObpCurrentHandleTable(void) {
    EPROCESS *p = PsGetCurrentProcess();
    return p && p->ObjectTable ? p->ObjectTable : ObpKernelHandleTable;
}

NTSTATUS ObInsertObject(PVOID body, ACCESS_MASK access, HANDLE *handle) {
    return ExCreateHandle(ObpCurrentHandleTable(), body, access, handle);
}

static PVOID ObpEntryObject(HANDLE_TABLE_ENTRY *e) {
    OBJECT_HEADER *h = (OBJECT_HEADER *)(((ULONG64)e->ObjectPointerBits << 4) | 0xffff000000000000ull);
    return &h->Body;
}

NTSTATUS ObReferenceObjectByHandle(HANDLE h, OBJECT_TYPE *type, PVOID *body) {
    HANDLE_TABLE_ENTRY *e = ExpLookupHandleTableEntry(ObpCurrentHandleTable(), (ULONG64)h);
    if (!e || !e->LowValue) return STATUS_INVALID_HANDLE;
    PVOID o = ObpEntryObject(e);
    if (type && ObGetObjectType(o) != type) return STATUS_OBJECT_TYPE_MISMATCH;
    *body = o;
    return STATUS_SUCCESS;
}

NTSTATUS ObCloseHandle(HANDLE h) {
    HANDLE_TABLE_ENTRY *e = ExpLookupHandleTableEntry(ObpCurrentHandleTable(), (ULONG64)h);
    if (!e || !e->LowValue) return STATUS_INVALID_HANDLE;
    OBJECT_HEADER *hdr = ObpHeader(ObpEntryObject(e));
    hdr->HandleCount--;
    hdr->PointerCount--;
    e->LowValue = 0;
    e->HighValue = 0;
    return STATUS_SUCCESS;
}

/* ---- namespace ------------------------------------------------------------- */

#define MAX_NAMED_OBJECTS 16
static struct {
    const char *Name;
    PVOID Object;
} ObpNamespace[MAX_NAMED_OBJECTS];
static ULONG ObpNamespaceCount;

void ObInsertNamedObject(const char *name, PVOID body) {
    if (ObpNamespaceCount == MAX_NAMED_OBJECTS) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0b, 0, 0, 0);
    ObpNamespace[ObpNamespaceCount].Name = name;
    ObpNamespace[ObpNamespaceCount].Object = body;
    ObpNamespaceCount++;
}

PVOID ObLookupNamedObject(const char *name, SIZE_T len) {
    for (ULONG i = 0; i < ObpNamespaceCount; i++)
        if (RtlStringLength(ObpNamespace[i].Name) == len && RtlEqualAsciiInsensitive(ObpNamespace[i].Name, name, len))
            return ObpNamespace[i].Object;
    return NULL;
}

void ObInitSystem(void) {
    ObHeaderCookie = (UCHAR)RtlRandom();
    /* The Type type is its own type: create it by hand, then the rest. */
    ObpTypeObjectType = ObCreateObject(NULL, sizeof(OBJECT_TYPE));
    ObpTypeObjectType->Index = ObpNextTypeIndex++;
    ObTypeIndexTable[ObpTypeObjectType->Index] = ObpTypeObjectType;
    RtlInitUnicodeFromAscii(&ObpTypeObjectType->Name, "Type");
    ObpDirectoryObjectType = ObpCreateType("Directory");
    ObpSymbolicLinkObjectType = ObpCreateType("SymbolicLink");
    PsProcessType = ObpCreateType("Process");
    PsThreadType = ObpCreateType("Thread");
    ExEventObjectType = ObpCreateType("Event");
    IoDeviceObjectType = ObpCreateType("Device");
    IoFileObjectType = ObpCreateType("File");
    MmSectionObjectType = ObpCreateType("Section");
    ObpKernelHandleTable = ExCreateHandleTable(NULL);
}
