/*
 * The configuration manager's structures, under Windows' names and with
 * Windows 10's members: the hive (_HHIVE inside _CMHIVE, its cell map
 * _HMAP_DIRECTORY/_HMAP_TABLE/_HMAP_ENTRY), the cells of a hive file
 * (_HBASE_BLOCK, _CM_KEY_NODE, _CM_KEY_VALUE) and an open key
 * (_CM_KEY_BODY, _CM_KEY_CONTROL_BLOCK).
 *
 * Type-only: mini-NT's registry holds no hives (cm.c answers the values
 * its programs read from the loader block), so CmpHiveListHead stays
 * empty and no structure below is ever allocated. The cell formats are a
 * file format and keep their layout in every build; the rest is
 * kernel-internal and swaps halves in the reorder build.
 */
#ifndef MININT_CM_H
#define MININT_CM_H

#include "ke.h"

typedef ULONG HCELL_INDEX;
#define HCELL_NIL ((HCELL_INDEX)-1)

#define HBASE_BLOCK_SIGNATURE 0x66676572u /* "regf" */
#define HSYS_SIGNATURE 0xbee0bee0u        /* _HHIVE.Signature */
#define CM_KEY_NODE_SIGNATURE 0x6b6e       /* "nk" */
#define CM_KEY_VALUE_SIGNATURE 0x6b76      /* "vk" */
#define CM_KEY_BODY_TYPE 0x6b793032        /* "ky02" */

/* The hive file's structures are 4-byte packed, as Windows declares them. */
#pragma pack(push, 4)

/* The first 4 KiB of a hive file. */
typedef struct _HBASE_BLOCK {
    ULONG Signature;
    ULONG Sequence1;
    ULONG Sequence2;
    LARGE_INTEGER TimeStamp;
    ULONG Major;
    ULONG Minor;
    ULONG Type;
    ULONG Format;
    HCELL_INDEX RootCell;
    ULONG Length;
    ULONG Cluster;
    UCHAR FileName[64];
    ULONG Reserved1[99];
    ULONG CheckSum;
    ULONG Reserved2[894];
    ULONG BootType;
    ULONG BootRecover;
} HBASE_BLOCK;
#pragma pack(pop)

/* Where a bin of the hive is in memory. */
typedef struct _HMAP_ENTRY {
    REORDER(
    ULONG64 BlockOffset;
    ,
    ULONG64 PermanentBinAddress; /* the bin's address; low bits flags */
    ULONG MemAlloc;)
} HMAP_ENTRY;

typedef struct _HMAP_TABLE {
    HMAP_ENTRY Table[512];
} HMAP_TABLE;

typedef struct _HMAP_DIRECTORY {
    HMAP_TABLE *Directory[1024];
} HMAP_DIRECTORY;

typedef struct _DUAL {
    ULONG Length;
    HMAP_DIRECTORY *Map;
    HMAP_TABLE *SmallDir;
    ULONG Guard;
    LIST_ENTRY FreeDisplay[24];
    ULONG FreeSummary;
    LIST_ENTRY FreeBins;
} DUAL;

struct _HHIVE;
typedef PVOID (*PGET_CELL_ROUTINE)(struct _HHIVE *Hive, HCELL_INDEX Cell);

typedef struct _HHIVE {
    REORDER(
    ULONG Signature; /* HSYS_SIGNATURE */
    PGET_CELL_ROUTINE GetCellRoutine;
    PVOID ReleaseCellRoutine;
    PVOID Allocate;
    PVOID Free;
    PVOID FileWrite;
    PVOID FileRead;
    PVOID HiveLoadFailure;
    HBASE_BLOCK *BaseBlock;
    ,
    ULONG Cluster;
    BOOLEAN Flat;
    BOOLEAN ReadOnly;
    UCHAR DirtyFlag;
    ULONG HvBinHeadersUse;
    ULONG HvFreeCellsUse;
    ULONG HvUsedCellsUse;
    ULONG CmUsedCellsUse;
    ULONG HiveFlags;
    ULONG CurrentLog;
    ULONG Version;
    DUAL Storage[2];) /* stable, volatile */
} HHIVE;

typedef struct _CMHIVE {
    HHIVE Hive;
    REORDER(
    HANDLE FileHandles[6];
    LIST_ENTRY NotifyList;
    LIST_ENTRY HiveList; /* on CmpHiveListHead */
    ,
    LIST_ENTRY PreloadedHiveList;
    UNICODE_STRING FileFullPath;
    UNICODE_STRING FileUserName;
    UNICODE_STRING HiveRootPath;
    ULONG Flags;)
} CMHIVE;

typedef struct _CM_NAME_HASH {
    ULONG ConvKey;
    struct _CM_NAME_HASH *NextHash;
    USHORT NameLength;
    WCHAR Name[1];
} CM_NAME_HASH;

typedef struct _CM_NAME_CONTROL_BLOCK {
    BOOLEAN Compressed;
    USHORT RefCount;
    CM_NAME_HASH NameHash;
} CM_NAME_CONTROL_BLOCK;

typedef struct _CM_KEY_CONTROL_BLOCK {
    REORDER(
    ULONG64 RefCount;
    ULONG ExtFlags;
    ULONG DelayedDeref;
    HHIVE *KeyHive;
    HCELL_INDEX KeyCell;
    ,
    CM_NAME_CONTROL_BLOCK *NameBlock;
    struct _CM_KEY_CONTROL_BLOCK *ParentKcb;
    LIST_ENTRY KeyBodyListHead;
    ULONG TotalLevels;)
} CM_KEY_CONTROL_BLOCK;

/* The body of a Key object: an open key. */
typedef struct _CM_KEY_BODY {
    REORDER(
    ULONG Type; /* CM_KEY_BODY_TYPE */
    CM_KEY_CONTROL_BLOCK *KeyControlBlock;
    PVOID NotifyBlock;
    ,
    HANDLE ProcessID;
    LIST_ENTRY KeyBodyList;
    ULONG Flags;)
} CM_KEY_BODY;

typedef struct _CHILD_LIST {
    ULONG Count;
    HCELL_INDEX List;
} CHILD_LIST;

#pragma pack(push, 4)
/* A key cell ("nk"), as in the hive file. */
typedef struct _CM_KEY_NODE {
    USHORT Signature;
    USHORT Flags;
    LARGE_INTEGER LastWriteTime;
    UCHAR AccessBits;
    UCHAR LayerSemantics;
    UCHAR Spare1;
    UCHAR InstallerFlags;
    HCELL_INDEX Parent;
    ULONG SubKeyCounts[2];
    HCELL_INDEX SubKeyLists[2];
    CHILD_LIST ValueList;
    HCELL_INDEX Security;
    HCELL_INDEX Class;
    ULONG MaxNameLen;
    ULONG MaxClassLen;
    ULONG MaxValueNameLen;
    ULONG MaxValueDataLen;
    ULONG WorkVar;
    USHORT NameLength;
    USHORT ClassLength;
    WCHAR Name[1];
} CM_KEY_NODE;

/* A value cell ("vk"), as in the hive file. */
typedef struct _CM_KEY_VALUE {
    USHORT Signature;
    USHORT NameLength;
    ULONG DataLength;
    HCELL_INDEX Data;
    ULONG Type;
    USHORT Flags;
    USHORT Spare;
    WCHAR Name[1];
} CM_KEY_VALUE;
#pragma pack(pop)

_Static_assert(sizeof(HBASE_BLOCK) == 4096, "the hive file format");
_Static_assert(offsetof(CM_KEY_NODE, NameLength) == 0x48, "the hive file format");
_Static_assert(offsetof(CM_KEY_VALUE, Name) == 0x14, "the hive file format");

/* The loaded hives: none in mini-NT. */
extern LIST_ENTRY CmpHiveListHead;

#endif
