/*
 * The object manager's optional headers and its namespace, as Windows 10
 * lays them out.
 *
 * An object's pool block holds, in address order: the _POOL_HEADER, the
 * optional headers its _OBJECT_HEADER.InfoMask names (the highest bit
 * first, so the creator info, bit 0x1, ends next to the object header),
 * the _OBJECT_HEADER and the body. The header of bit b sits
 * ObpInfoMaskToOffset[InfoMask & ((b << 1) - 1)] bytes below the object
 * header: the table holds, for every mask, the total size of the headers
 * it names, and the kernel fills it from their sizes at boot.
 *
 * The namespace is a tree of directory objects from ObpRootDirectoryObject
 * ("\"), each a hash table of 37 buckets of _OBJECT_DIRECTORY_ENTRY
 * chains; a named object's name info holds its last path component and
 * its directory.
 *
 * Name and creator infos and directories are kernel-internal and read by
 * Frost, so the reorder build swaps their halves; the other optional
 * headers keep Windows' layout (nothing reads them but their sizes).
 */
#ifndef MININT_OB_H
#define MININT_OB_H

#include "ntdef.h"

/* InfoMask bits, Windows' encoding (no symbol states them). */
#define OB_INFOMASK_CREATOR_INFO 0x01
#define OB_INFOMASK_NAME 0x02
#define OB_INFOMASK_HANDLE 0x04
#define OB_INFOMASK_QUOTA 0x08
#define OB_INFOMASK_PROCESS_INFO 0x10
#define OB_INFOMASK_AUDIT_INFO 0x20
#define OB_INFOMASK_EXTENDED_INFO 0x40
#define OB_INFOMASK_PADDING_INFO 0x80

struct _OBJECT_DIRECTORY;

typedef struct _OBJECT_HEADER_CREATOR_INFO {
    REORDER(
    LIST_ENTRY TypeList; /* on its type's list of objects */
    PVOID CreatorUniqueProcess;
    , /* the second half */
    USHORT CreatorBackTraceIndex;
    USHORT Reserved1;
    ULONG Reserved2;)
} OBJECT_HEADER_CREATOR_INFO;

typedef struct _OBJECT_HEADER_NAME_INFO {
    REORDER(
    struct _OBJECT_DIRECTORY *Directory;
    UNICODE_STRING Name; /* the last component only */
    , /* the second half */
    LONG ReferenceCount;
    ULONG Reserved;)
} OBJECT_HEADER_NAME_INFO;

typedef struct _OBJECT_HANDLE_COUNT_ENTRY {
    struct _EPROCESS *Process;
    ULONG HandleCount : 24;
    ULONG LockCount : 8;
} OBJECT_HANDLE_COUNT_ENTRY;

typedef struct _OBJECT_HEADER_HANDLE_INFO {
    union {
        PVOID HandleCountDataBase;
        OBJECT_HANDLE_COUNT_ENTRY SingleEntry;
    };
} OBJECT_HEADER_HANDLE_INFO;

typedef struct _OBJECT_HEADER_QUOTA_INFO {
    ULONG PagedPoolCharge;
    ULONG NonPagedPoolCharge;
    ULONG SecurityDescriptorCharge;
    ULONG Reserved1;
    PVOID SecurityDescriptorQuotaBlock;
    ULONG64 Reserved2;
} OBJECT_HEADER_QUOTA_INFO;

typedef struct _OBJECT_HEADER_PROCESS_INFO {
    struct _EPROCESS *ExclusiveProcess;
    ULONG64 Reserved;
} OBJECT_HEADER_PROCESS_INFO;

typedef struct _OBJECT_HEADER_AUDIT_INFO {
    PVOID SecurityDescriptor;
    ULONG64 Reserved;
} OBJECT_HEADER_AUDIT_INFO;

typedef struct _OBJECT_HEADER_EXTENDED_INFO {
    PVOID Footer;
    ULONG64 Reserved;
} OBJECT_HEADER_EXTENDED_INFO;

typedef struct _OBJECT_HEADER_PADDING_INFO {
    ULONG PaddingAmount;
} OBJECT_HEADER_PADDING_INFO;

_Static_assert(sizeof(OBJECT_HEADER_CREATOR_INFO) % 16 == 0 && sizeof(OBJECT_HEADER_NAME_INFO) % 16 == 0,
               "the headers mini-NT uses keep the object header 16-byte aligned");

#define NUMBER_HASH_BUCKETS 37

typedef struct _OBJECT_DIRECTORY_ENTRY {
    REORDER(
    struct _OBJECT_DIRECTORY_ENTRY *ChainLink;
    PVOID Object;
    , /* the second half */
    ULONG HashValue;)
} OBJECT_DIRECTORY_ENTRY;

typedef struct _OBJECT_DIRECTORY {
    REORDER(
    OBJECT_DIRECTORY_ENTRY *HashBuckets[NUMBER_HASH_BUCKETS];
    EX_PUSH_LOCK Lock;
    , /* the second half */
    PVOID DeviceMap;
    struct _OBJECT_DIRECTORY *ShadowDirectory;
    PVOID NamespaceEntry;
    PVOID SessionObject;
    ULONG Flags;
    ULONG SessionId;)
} OBJECT_DIRECTORY;

extern UCHAR ObpInfoMaskToOffset[256];
extern OBJECT_DIRECTORY *ObpRootDirectoryObject, *ObpTypeDirectoryObject;
extern OBJECT_TYPE *ObpDirectoryObjectType, *ExMutantObjectType, *IoDriverObjectType, *SeTokenObjectType;

/* Creates an object with a name info holding path's last component and
   inserts it into the directory path names (which must exist), as
   ObCreateObject then ObInsertObject do with a named OBJECT_ATTRIBUTES.
   Returns NULL, with *status set, when the name is taken, its directory
   does not exist or the name is malformed. */
PVOID ObCreateNamedObject(OBJECT_TYPE *type, SIZE_T bodySize, const char *path, SIZE_T len, NTSTATUS *status);
/* A directory object at path (its parent must exist). */
OBJECT_DIRECTORY *ObCreateDirectory(const char *path);
OBJECT_HEADER_NAME_INFO *ObQueryNameInfo(PVOID body);

/* ---- handle tables (ob.c) and the system's handle information (obinfo.c) ---- */
#define HANDLES_PER_PAGE (PAGE_SIZE / sizeof(HANDLE_TABLE_ENTRY))
HANDLE_TABLE_ENTRY *ExpLookupHandleTableEntry(HANDLE_TABLE *ht, ULONG64 h);
void ExpInsertHandleTable(HANDLE_TABLE *ht);
extern LIST_ENTRY HandleTableListHead;

#define SystemExtendedHandleInformation 64

/* One handle, as NtQuerySystemInformation(SystemExtendedHandleInformation)
   returns it: Object is the object's body. */
typedef struct _SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX {
    PVOID Object;
    ULONG64 UniqueProcessId;
    ULONG64 HandleValue;
    ULONG GrantedAccess;
    USHORT CreatorBackTraceIndex;
    USHORT ObjectTypeIndex;
    ULONG HandleAttributes;
    ULONG Reserved;
} SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX;

typedef struct _SYSTEM_HANDLE_INFORMATION_EX {
    ULONG64 NumberOfHandles;
    ULONG64 Reserved;
    SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX Handles[1];
} SYSTEM_HANDLE_INFORMATION_EX;

NTSTATUS ExpQuerySystemHandleInformationEx(SYSTEM_HANDLE_INFORMATION_EX *info, ULONG length, ULONG *required);

#endif
