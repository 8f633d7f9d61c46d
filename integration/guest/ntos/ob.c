/*
 * The object manager: object types, object headers and their optional
 * headers (ob.h), handle tables, and the namespace of directory objects
 * (\Device\..., \Driver\..., \GLOBAL??\C:, \BaseNamedObjects\...).
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
#include "ob.h"
#include "pool.h"

UCHAR ObHeaderCookie;
UCHAR ObpInfoMaskToOffset[256];
OBJECT_DIRECTORY *ObpRootDirectoryObject, *ObpTypeDirectoryObject;
static OBJECT_DIRECTORY *ObpGlobalDosDevicesDirectory;
OBJECT_TYPE *ObTypeIndexTable[256];
HANDLE_TABLE *ObpKernelHandleTable;

OBJECT_TYPE *ObpTypeObjectType, *ObpDirectoryObjectType, *ObpSymbolicLinkObjectType, *PsProcessType, *PsThreadType,
    *ExEventObjectType, *IoDeviceObjectType, *IoFileObjectType, *MmSectionObjectType, *ExMutantObjectType,
    *IoDriverObjectType, *SeTokenObjectType;

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

/* The optional headers' sizes by InfoMask bit, lowest first. */
static const SIZE_T ObpInfoHeaderSizes[8] = {
    sizeof(OBJECT_HEADER_CREATOR_INFO),  sizeof(OBJECT_HEADER_NAME_INFO),    sizeof(OBJECT_HEADER_HANDLE_INFO),
    sizeof(OBJECT_HEADER_QUOTA_INFO),    sizeof(OBJECT_HEADER_PROCESS_INFO), sizeof(OBJECT_HEADER_AUDIT_INFO),
    sizeof(OBJECT_HEADER_EXTENDED_INFO), sizeof(OBJECT_HEADER_PADDING_INFO),
};

static void ObpInitializeInfoMaskToOffset(void) {
    for (ULONG mask = 0; mask < 256; mask++) {
        SIZE_T off = 0;
        for (ULONG bit = 0; bit < 8; bit++)
            if (mask & (1u << bit)) off += ObpInfoHeaderSizes[bit];
        ObpInfoMaskToOffset[mask] = (UCHAR)off;
    }
    DbgPrint("frost-guest: info-mask-to-offset address=0x%llx creator=0x%x name=0x%x creator-name=0x%x all=0x%x\n",
             (ULONG64)ObpInfoMaskToOffset, (ULONG)ObpInfoMaskToOffset[OB_INFOMASK_CREATOR_INFO],
             (ULONG)ObpInfoMaskToOffset[OB_INFOMASK_NAME],
             (ULONG)ObpInfoMaskToOffset[OB_INFOMASK_NAME | OB_INFOMASK_CREATOR_INFO], (ULONG)ObpInfoMaskToOffset[0xff]);
}

/* The optional header of bit in h, as Windows' OBJECT_HEADER_TO_*_INFO
   macros find it, or NULL when InfoMask lacks it. */
static PVOID ObpInfoHeader(OBJECT_HEADER *h, UCHAR bit) {
    if (!(h->InfoMask & bit)) return NULL;
    return (UCHAR *)h - ObpInfoMaskToOffset[h->InfoMask & (bit | (bit - 1))];
}

OBJECT_HEADER_NAME_INFO *ObQueryNameInfo(PVOID body) { return ObpInfoHeader(ObpHeader(body), OB_INFOMASK_NAME); }

static void ObpReportObject(OBJECT_TYPE *type, OBJECT_HEADER *h) {
    /* Events are left out: writer.exe alone opens 300. */
    if (type == ExEventObjectType) return;
    POOL_HEADER *ph = (POOL_HEADER *)((UCHAR *)h - ObpInfoMaskToOffset[h->InfoMask]) - 1;
    ULONG tag = ph->PoolTag;
    char t[5] = {(char)tag, (char)(tag >> 8), (char)(tag >> 16), (char)(tag >> 24), 0};
    char name[32] = "Type";
    if (type) {
        SIZE_T n = type->Name.Length / 2 < sizeof(name) - 1 ? type->Name.Length / 2 : sizeof(name) - 1;
        for (SIZE_T i = 0; i < n; i++) name[i] = (char)type->Name.Buffer[i];
        name[n] = 0;
    }
    DbgPrint("frost-guest: pool-object type=%s tag=\"%s\" pool=0x%llx block-size=0x%x pool-type=%u header=0x%llx "
             "object=0x%llx info-mask=0x%x\n",
             name, t, (ULONG64)ph, (ULONG)ph->BlockSize << POOL_BLOCK_SHIFT, (ULONG)ph->PoolType, (ULONG64)h,
             (ULONG64)&h->Body, (ULONG)h->InfoMask);
}

/* Allocates an object of type in one pool block with the optional headers
   infoMask names (zeroed), from the type's pool and with its Key as the
   tag, as ObpAllocateObject does. The Type type is created before it has
   an OBJECT_TYPE: type NULL stands for it. */
static PVOID ObpAllocateObject(OBJECT_TYPE *type, SIZE_T bodySize, UCHAR infoMask) {
    SIZE_T pre = ObpInfoMaskToOffset[infoMask];
    ULONG pool = type ? type->TypeInfo.PoolType : NonPagedPool;
    ULONG tag = type ? type->Key : 'TjbO';
    UCHAR *block = ExAllocatePoolWithTag(pool, pre + offsetof(OBJECT_HEADER, Body) + bodySize, tag);
    OBJECT_HEADER *h = (OBJECT_HEADER *)(block + pre);
    h->PointerCount = 1;
    h->TypeIndex = ObpEncodeTypeIndex(h, type ? type->Index : 2);
    h->Flags = 0;
    h->InfoMask = infoMask;
    if (type) {
        type->TotalNumberOfObjects++;
        if (type->TotalNumberOfObjects > type->HighWaterNumberOfObjects)
            type->HighWaterNumberOfObjects = type->TotalNumberOfObjects;
    }
    return &h->Body;
}

PVOID ObCreateObject(OBJECT_TYPE *type, SIZE_T bodySize) {
    PVOID body = ObpAllocateObject(type, bodySize, 0);
    ObpReportObject(type, ObpHeader(body));
    return body;
}

static UCHAR ObpNextTypeIndex = 2; /* 0 and 1 are reserved, as in Windows */

/* Fills a name info's Name from an ASCII component, in an ObNm buffer. */
static void ObpSetName(OBJECT_HEADER_NAME_INFO *ni, const char *name, SIZE_T len) {
    WCHAR *w = ExAllocatePoolWithTag(PagedPool, (len + 1) * sizeof(WCHAR), 'mNbO');
    for (SIZE_T i = 0; i < len; i++) w[i] = (WCHAR)(UCHAR)name[i];
    ni->Name.Buffer = w;
    ni->Name.Length = (USHORT)(len * sizeof(WCHAR));
    ni->Name.MaximumLength = (USHORT)((len + 1) * sizeof(WCHAR));
}

/* Types carry a creator info (Windows keeps every type on the Type type's
   list) and a name info, and go into \ObjectTypes once it exists. A type's
   Key, the pool tag of its objects, is its name's first four characters. */
static OBJECT_TYPE *ObpCreateType(const char *name, ULONG poolType) {
    UCHAR mask = OB_INFOMASK_CREATOR_INFO | OB_INFOMASK_NAME;
    OBJECT_TYPE *t = ObpAllocateObject(ObpTypeObjectType, sizeof(OBJECT_TYPE), mask);
    OBJECT_HEADER *h = ObpHeader(t);
    t->Index = ObpNextTypeIndex++;
    RtlInitUnicodeFromAscii(&t->Name, name);
    t->TypeList.Flink = t->TypeList.Blink = &t->TypeList;
    t->CallbackList.Flink = t->CallbackList.Blink = &t->CallbackList;
    t->TypeInfo.Length = sizeof(OBJECT_TYPE_INITIALIZER);
    t->TypeInfo.PoolType = poolType;
    UCHAR key[4] = {' ', ' ', ' ', ' '};
    for (int i = 0; i < 4 && name[i]; i++) key[i] = (UCHAR)name[i];
    t->Key = (ULONG)key[0] | (ULONG)key[1] << 8 | (ULONG)key[2] << 16 | (ULONG)key[3] << 24;
    ObTypeIndexTable[t->Index] = t;
    ObpSetName(ObpInfoHeader(h, OB_INFOMASK_NAME), name, RtlStringLength(name));
    OBJECT_HEADER_CREATOR_INFO *ci = ObpInfoHeader(h, OB_INFOMASK_CREATOR_INFO);
    LIST_ENTRY *head = &ObpTypeObjectType->TypeList;
    ci->TypeList.Flink = head;
    ci->TypeList.Blink = head->Blink;
    head->Blink->Flink = &ci->TypeList;
    head->Blink = &ci->TypeList;
    ObpReportObject(ObpTypeObjectType, h);
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
    ExpInsertHandleTable(ht);
    return ht;
}

/* The entry for handle value h, or NULL past the table's end. */
HANDLE_TABLE_ENTRY *ExpLookupHandleTableEntry(HANDLE_TABLE *ht, ULONG64 h) {
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

static char ObpUpcase(char c) { return c >= 'a' && c <= 'z' ? (char)(c - ('a' - 'A')) : c; }

/* Windows' directory hash: each character, upcased, is added to the hash
   grown by 1.5 times plus one; the bucket is the hash modulo 37. */
static ULONG ObpHashName(const char *name, SIZE_T len) {
    ULONG h = 0;
    for (SIZE_T i = 0; i < len; i++) {
        h += (h << 1) + (h >> 1);
        h += (UCHAR)ObpUpcase(name[i]);
    }
    return h;
}

static BOOLEAN ObpNameIs(const UNICODE_STRING *us, const char *name, SIZE_T len) {
    if (us->Length != len * sizeof(WCHAR)) return FALSE;
    for (SIZE_T i = 0; i < len; i++) {
        WCHAR c = us->Buffer[i];
        if (c >= 0x80 || ObpUpcase((char)c) != ObpUpcase(name[i])) return FALSE;
    }
    return TRUE;
}

static PVOID ObpLookupDirectoryEntry(OBJECT_DIRECTORY *dir, const char *name, SIZE_T len) {
    for (OBJECT_DIRECTORY_ENTRY *e = dir->HashBuckets[ObpHashName(name, len) % NUMBER_HASH_BUCKETS]; e; e = e->ChainLink) {
        OBJECT_HEADER_NAME_INFO *ni = ObQueryNameInfo(e->Object);
        if (ni && ObpNameIs(&ni->Name, name, len)) return e->Object;
    }
    return NULL;
}

/* The object's path as ObQueryNameString builds it, in ASCII. */
static void ObpFormatPath(PVOID body, char *buf, SIZE_T cap) {
    const UNICODE_STRING *parts[16];
    int n = 0;
    for (PVOID o = body; o && o != ObpRootDirectoryObject && n < 16;) {
        OBJECT_HEADER_NAME_INFO *ni = ObQueryNameInfo(o);
        if (!ni) break;
        parts[n++] = &ni->Name;
        o = ni->Directory;
    }
    SIZE_T at = 0;
    if (n == 0 && cap > 1) buf[at++] = '\\';
    while (n-- > 0) {
        if (at + 1 < cap) buf[at++] = '\\';
        for (USHORT i = 0; i < parts[n]->Length / 2 && at + 1 < cap; i++) buf[at++] = (char)parts[n]->Buffer[i];
    }
    buf[at] = 0;
}

static OBJECT_TYPE *ObpTypeName(PVOID body, char *buf, SIZE_T cap) {
    OBJECT_TYPE *t = ObGetObjectType(body);
    SIZE_T n = t->Name.Length / 2 < cap - 1 ? t->Name.Length / 2 : cap - 1;
    for (SIZE_T i = 0; i < n; i++) buf[i] = (char)t->Name.Buffer[i];
    buf[n] = 0;
    return t;
}

/* Links a named object into dir: a new entry at the head of its bucket's
   chain (ObDi, paged pool), and dir as its name info's Directory. */
static NTSTATUS ObpInsertDirectoryEntry(OBJECT_DIRECTORY *dir, PVOID body) {
    OBJECT_HEADER_NAME_INFO *ni = ObQueryNameInfo(body);
    char name[64];
    SIZE_T len = ni->Name.Length / sizeof(WCHAR);
    if (len == 0 || len >= sizeof(name)) return STATUS_OBJECT_NAME_INVALID;
    for (SIZE_T i = 0; i < len; i++) name[i] = (char)ni->Name.Buffer[i];
    name[len] = 0;
    if (ObpLookupDirectoryEntry(dir, name, len)) return STATUS_OBJECT_NAME_COLLISION;
    ULONG hash = ObpHashName(name, len);
    OBJECT_DIRECTORY_ENTRY *e = ExAllocatePoolWithTag(PagedPool, sizeof(*e), 'iDbO');
    e->Object = body;
    e->HashValue = hash;
    e->ChainLink = dir->HashBuckets[hash % NUMBER_HASH_BUCKETS];
    dir->HashBuckets[hash % NUMBER_HASH_BUCKETS] = e;
    ni->Directory = dir;
    ObpHeader(body)->PointerCount++;
    char path[128], type[32];
    ObpFormatPath(dir, path, sizeof(path));
    ObpTypeName(body, type, sizeof(type));
    DbgPrint("frost-guest: directory-entry directory=%s name=%s type=%s object=0x%llx header=0x%llx name-info=0x%llx "
             "entry=0x%llx bucket=%u hash=0x%x\n",
             path, name, type, (ULONG64)body, (ULONG64)ObpHeader(body), (ULONG64)ni, (ULONG64)e,
             hash % NUMBER_HASH_BUCKETS, hash);
    return STATUS_SUCCESS;
}

/* Walks path's directories: the directory of its last component, which is
   returned in *leaf (\?? is \GLOBAL??, as DosDevices falls back to it). */
static OBJECT_DIRECTORY *ObpLookupParent(const char *path, SIZE_T len, const char **leaf, SIZE_T *leafLen) {
    if (len == 0 || path[0] != '\\' || !ObpRootDirectoryObject) return NULL;
    OBJECT_DIRECTORY *dir = ObpRootDirectoryObject;
    SIZE_T i = 1;
    if (len >= 4 && RtlEqualAsciiInsensitive(path, "\\??\\", 4)) {
        dir = ObpGlobalDosDevicesDirectory;
        i = 4;
    }
    for (;;) {
        SIZE_T j = i;
        while (j < len && path[j] != '\\') j++;
        if (j == len) {
            *leaf = path + i;
            *leafLen = len - i;
            return dir;
        }
        PVOID o = ObpLookupDirectoryEntry(dir, path + i, j - i);
        if (!o || ObGetObjectType(o) != ObpDirectoryObjectType) return NULL;
        dir = o;
        i = j + 1;
    }
}

PVOID ObLookupNamedObject(const char *name, SIZE_T len) {
    const char *leaf;
    SIZE_T leafLen;
    if (len == 1 && name[0] == '\\') return ObpRootDirectoryObject;
    OBJECT_DIRECTORY *dir = ObpLookupParent(name, len, &leaf, &leafLen);
    return dir && leafLen ? ObpLookupDirectoryEntry(dir, leaf, leafLen) : NULL;
}

PVOID ObCreateNamedObject(OBJECT_TYPE *type, SIZE_T bodySize, const char *path, SIZE_T len, NTSTATUS *status) {
    const char *leaf;
    SIZE_T leafLen;
    OBJECT_DIRECTORY *dir = ObpLookupParent(path, len, &leaf, &leafLen);
    if (!dir) {
        *status = STATUS_OBJECT_PATH_NOT_FOUND;
        return NULL;
    }
    if (leafLen == 0 || leafLen >= 64) {
        *status = STATUS_OBJECT_NAME_INVALID;
        return NULL;
    }
    if (ObpLookupDirectoryEntry(dir, leaf, leafLen)) {
        *status = STATUS_OBJECT_NAME_COLLISION;
        return NULL;
    }
    PVOID body = ObpAllocateObject(type, bodySize, OB_INFOMASK_NAME);
    ObpSetName(ObQueryNameInfo(body), leaf, leafLen);
    ObpReportObject(type, ObpHeader(body));
    *status = ObpInsertDirectoryEntry(dir, body);
    return body;
}

static OBJECT_DIRECTORY *ObpCreateDirectoryObject(void) {
    OBJECT_DIRECTORY *d = ObpAllocateObject(ObpDirectoryObjectType, sizeof(OBJECT_DIRECTORY), OB_INFOMASK_NAME);
    ObpReportObject(ObpDirectoryObjectType, ObpHeader(d));
    return d;
}

OBJECT_DIRECTORY *ObCreateDirectory(const char *path) {
    NTSTATUS st;
    OBJECT_DIRECTORY *d = ObCreateNamedObject(ObpDirectoryObjectType, sizeof(OBJECT_DIRECTORY), path,
                                              RtlStringLength(path), &st);
    if (!d || !NT_SUCCESS(st)) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0b, (ULONG64)(ULONG)st, 0, 0);
    DbgPrint("frost-guest: directory name=%s object=0x%llx header=0x%llx\n", path, (ULONG64)d, (ULONG64)ObpHeader(d));
    return d;
}

/* The root directory "\": named, in no directory, as ObQueryNameString
   expects of it. Then \ObjectTypes with every type, and the directories
   the rest of the kernel fills. */
static void ObpCreateNamespace(void) {
    ObpRootDirectoryObject = ObpCreateDirectoryObject();
    ObpSetName(ObQueryNameInfo(ObpRootDirectoryObject), "\\", 1);
    DbgPrint("frost-guest: directory name=\\ object=0x%llx header=0x%llx\n", (ULONG64)ObpRootDirectoryObject,
             (ULONG64)ObpHeader(ObpRootDirectoryObject));
    ObpTypeDirectoryObject = ObCreateDirectory("\\ObjectTypes");
    for (ULONG i = 2; i < ObpNextTypeIndex; i++) {
        NTSTATUS st = ObpInsertDirectoryEntry(ObpTypeDirectoryObject, ObTypeIndexTable[i]);
        if (!NT_SUCCESS(st)) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0c, i, (ULONG64)(ULONG)st, 0);
    }
    ObCreateDirectory("\\Device");
    ObCreateDirectory("\\Driver");
    ObpGlobalDosDevicesDirectory = ObCreateDirectory("\\GLOBAL??");
    ObCreateDirectory("\\BaseNamedObjects");
}

void ObInitSystem(void) {
    ObHeaderCookie = (UCHAR)RtlRandom();
    ObpInitializeInfoMaskToOffset();
    /* Entry 0 is NULL and entry 1 Windows' marker 0xbad0b0b0: tools read
       the table up to its first NULL after entry 0. */
    ObTypeIndexTable[1] = (OBJECT_TYPE *)0xbad0b0b0ull;
    /* The Type type is its own type: create it by hand, then the rest. */
    UCHAR mask = OB_INFOMASK_CREATOR_INFO | OB_INFOMASK_NAME;
    ObpTypeObjectType = ObpAllocateObject(NULL, sizeof(OBJECT_TYPE), mask);
    ObpTypeObjectType->Index = ObpNextTypeIndex++;
    ObTypeIndexTable[ObpTypeObjectType->Index] = ObpTypeObjectType;
    RtlInitUnicodeFromAscii(&ObpTypeObjectType->Name, "Type");
    ObpTypeObjectType->Key = 'TjbO';
    ObpTypeObjectType->TypeInfo.Length = sizeof(OBJECT_TYPE_INITIALIZER);
    ObpTypeObjectType->TypeInfo.PoolType = NonPagedPool;
    ObpTypeObjectType->CallbackList.Flink = ObpTypeObjectType->CallbackList.Blink = &ObpTypeObjectType->CallbackList;
    OBJECT_HEADER *th = ObpHeader(ObpTypeObjectType);
    ObpSetName(ObpInfoHeader(th, OB_INFOMASK_NAME), "Type", 4);
    OBJECT_HEADER_CREATOR_INFO *ci = ObpInfoHeader(th, OB_INFOMASK_CREATOR_INFO);
    ObpTypeObjectType->TypeList.Flink = ObpTypeObjectType->TypeList.Blink = &ci->TypeList;
    ci->TypeList.Flink = ci->TypeList.Blink = &ObpTypeObjectType->TypeList;
    ObpTypeObjectType->TotalNumberOfObjects = ObpTypeObjectType->HighWaterNumberOfObjects = 1;
    ObpReportObject(ObpTypeObjectType, th);
    /* The existing indexes keep their numbers; types added later follow. */
    ObpDirectoryObjectType = ObpCreateType("Directory", PagedPool);
    ObpSymbolicLinkObjectType = ObpCreateType("SymbolicLink", PagedPool);
    PsProcessType = ObpCreateType("Process", NonPagedPool);
    PsThreadType = ObpCreateType("Thread", NonPagedPool);
    ExEventObjectType = ObpCreateType("Event", NonPagedPool);
    IoDeviceObjectType = ObpCreateType("Device", NonPagedPool);
    IoFileObjectType = ObpCreateType("File", NonPagedPool);
    MmSectionObjectType = ObpCreateType("Section", PagedPool);
    ExMutantObjectType = ObpCreateType("Mutant", NonPagedPool);
    IoDriverObjectType = ObpCreateType("Driver", NonPagedPool);
    SeTokenObjectType = ObpCreateType("Token", PagedPool);
    ObpCreateNamespace();
    ObpKernelHandleTable = ExCreateHandleTable(NULL);
}
