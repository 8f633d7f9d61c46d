/*
 * Basic NT types and the structures shared by the kernel's subsystems.
 *
 * Type and field names are Windows' own wherever Frost reads them, and the
 * _MMPTE family has the bit layout of Windows 10 19041. Offsets are whatever
 * the compiler chooses: Frost reads them from ntkrnlmp.pdb, never from here.
 * Fields Windows has and mini-NT does not use are mostly left out.
 */
#ifndef MININT_NTDEF_H
#define MININT_NTDEF_H

typedef unsigned char UCHAR, BOOLEAN, *PUCHAR;
typedef char CHAR, CCHAR, *PCHAR;
typedef unsigned short USHORT, *PUSHORT;
typedef short SHORT, CSHORT;
typedef unsigned long ULONG, *PULONG, ACCESS_MASK;
typedef long LONG, NTSTATUS;
typedef unsigned long long ULONG64, ULONG_PTR, SIZE_T, *PULONG64;
typedef long long LONG64, LONGLONG;
typedef unsigned short WCHAR, *PWSTR;
typedef void VOID, *PVOID, *HANDLE, **PHANDLE;

#define NULL ((void *)0)
#define TRUE 1
#define FALSE 0
#define offsetof(t, f) __builtin_offsetof(t, f)
#define CONTAINING_RECORD(a, t, f) ((t *)((char *)(a)-offsetof(t, f)))
#define NOINLINE __attribute__((noinline))
#define INITCODE __attribute__((section("INIT"), noinline))

/* The "reorder" build (MININT_REORDER) swaps the halves of every structure
   Frost reads (bit positions too, except the _MMPTE family's), so a
   debugger that hard-codes one layout reads garbage from the other. */
#ifdef MININT_REORDER
#define REORDER(first, second) second first
#else
#define REORDER(first, second) first second
#endif

#define STATUS_SUCCESS ((NTSTATUS)0x00000000)
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102)
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000D)
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017)
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005)
#define STATUS_OBJECT_TYPE_MISMATCH ((NTSTATUS)0xC0000024)
#define STATUS_OBJECT_NAME_INVALID ((NTSTATUS)0xC0000033)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034)
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035)
#define STATUS_OBJECT_PATH_NOT_FOUND ((NTSTATUS)0xC000003A)
#define STATUS_DISK_FULL ((NTSTATUS)0xC000007F)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define STATUS_INVALID_SYSTEM_SERVICE ((NTSTATUS)0xC000001C)
#define STATUS_INVALID_IMAGE_FORMAT ((NTSTATUS)0xC000007B)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023)
#define STATUS_TOO_MANY_PAGING_FILES ((NTSTATUS)0xC0000097)
#define STATUS_IO_DEVICE_ERROR ((NTSTATUS)0xC0000185)
#define STATUS_END_OF_FILE ((NTSTATUS)0xC0000011)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010)
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004)
#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;

typedef union _LARGE_INTEGER {
    struct {
        ULONG LowPart;
        LONG HighPart;
    };
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef struct _CLIENT_ID {
    HANDLE UniqueProcess;
    HANDLE UniqueThread;
} CLIENT_ID;

typedef struct _RTL_BALANCED_NODE {
    union {
        struct _RTL_BALANCED_NODE *Children[2];
        struct {
            struct _RTL_BALANCED_NODE *Left;
            struct _RTL_BALANCED_NODE *Right;
        };
    };
    union {
        UCHAR Red : 1;
        UCHAR Balance : 2;
        ULONG64 ParentValue;
    };
} RTL_BALANCED_NODE, *PRTL_BALANCED_NODE;

typedef struct _RTL_AVL_TREE {
    RTL_BALANCED_NODE *Root;
} RTL_AVL_TREE;

typedef struct _EX_PUSH_LOCK {
    union {
        ULONG64 Locked : 1;
        ULONG64 Value;
        PVOID Ptr;
    };
} EX_PUSH_LOCK;

typedef struct _EX_FAST_REF {
    union {
        PVOID Object;
        ULONG64 RefCnt : 4;
        ULONG64 Value;
    };
} EX_FAST_REF;

typedef struct _DISPATCHER_HEADER {
    UCHAR Type;
    UCHAR Signalling;
    UCHAR Size;
    UCHAR Reserved1;
    LONG SignalState;
    LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER;

typedef struct _KEVENT {
    DISPATCHER_HEADER Header;
} KEVENT;

typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;

typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG64 Information;
} IO_STATUS_BLOCK, *PIO_STATUS_BLOCK;

/* ---- the PTE family: Windows 10 19041's bit layout ------------------- */

typedef struct _MMPTE_HARDWARE {
    ULONG64 Valid : 1;
    ULONG64 Dirty1 : 1;
    ULONG64 Owner : 1;
    ULONG64 WriteThrough : 1;
    ULONG64 CacheDisable : 1;
    ULONG64 Accessed : 1;
    ULONG64 Dirty : 1;
    ULONG64 LargePage : 1;
    ULONG64 Global : 1;
    ULONG64 CopyOnWrite : 1;
    ULONG64 Unused : 1;
    ULONG64 Write : 1;
    ULONG64 PageFrameNumber : 36;
    ULONG64 ReservedForHardware : 4;
    ULONG64 ReservedForSoftware : 4;
    ULONG64 WsleAge : 4;
    ULONG64 WsleProtection : 3;
    ULONG64 NoExecute : 1;
} MMPTE_HARDWARE;

typedef struct _MMPTE_PROTOTYPE {
    ULONG64 Valid : 1;
    ULONG64 DemandFillProto : 1;
    ULONG64 HiberVerifyConverted : 1;
    ULONG64 ReadOnly : 1;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Combined : 1;
    ULONG64 Unused1 : 4;
    LONG64 ProtoAddress : 48;
} MMPTE_PROTOTYPE;

typedef struct _MMPTE_SOFTWARE {
    ULONG64 Valid : 1;
    ULONG64 PageFileReserved : 1;
    ULONG64 PageFileAllocated : 1;
    ULONG64 ColdPage : 1;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 PageFileLow : 4;
    ULONG64 UsedPageTableEntries : 10;
    ULONG64 ShadowStack : 1;
    ULONG64 Unused : 5;
    ULONG64 PageFileHigh : 32;
} MMPTE_SOFTWARE;

typedef struct _MMPTE_TIMESTAMP {
    ULONG64 MustBeZero : 1;
    ULONG64 Unused : 3;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 PageFileLow : 4;
    ULONG64 Reserved : 16;
    ULONG64 GlobalTimeStamp : 32;
} MMPTE_TIMESTAMP;

typedef struct _MMPTE_TRANSITION {
    ULONG64 Valid : 1;
    ULONG64 Write : 1;
    ULONG64 Spare : 1;
    ULONG64 IoTracker : 1;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 PageFrameNumber : 36;
    ULONG64 Unused : 16;
} MMPTE_TRANSITION;

typedef struct _MMPTE_SUBSECTION {
    ULONG64 Valid : 1;
    ULONG64 Unused0 : 3;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 ColdPage : 1;
    ULONG64 Unused1 : 3;
    ULONG64 ExecutePrivilege : 1;
    LONG64 SubsectionAddress : 48;
} MMPTE_SUBSECTION;

typedef struct _MMPTE_LIST {
    ULONG64 Valid : 1;
    ULONG64 OneEntry : 1;
    ULONG64 filler0 : 2;
    ULONG64 SwizzleBit : 1;
    ULONG64 Protection : 5;
    ULONG64 Prototype : 1;
    ULONG64 Transition : 1;
    ULONG64 filler1 : 16;
    ULONG64 NextEntry : 36;
} MMPTE_LIST;

typedef struct _MMPTE {
    union {
        ULONG64 Long;
        volatile ULONG64 VolatileLong;
        MMPTE_HARDWARE Hard;
        MMPTE_PROTOTYPE Proto;
        MMPTE_SOFTWARE Soft;
        MMPTE_TIMESTAMP TimeStamp;
        MMPTE_TRANSITION Trans;
        MMPTE_SUBSECTION Subsect;
        MMPTE_LIST List;
    } u;
} MMPTE, *PMMPTE;

/* ---- sections, files, devices ---------------------------------------- */

struct _EPROCESS;
struct _FILE_OBJECT;
struct _DEVICE_OBJECT;
struct _CONTROL_AREA;

typedef struct _MMSECTION_FLAGS {
    REORDER(
    ULONG BeingDeleted : 1;
    ULONG BeingCreated : 1;
    ULONG BeingPurged : 1;
    ULONG NoModifiedWriting : 1;
    ULONG FailAllIo : 1;
    ULONG Image : 1;
    ULONG Based : 1;
    ULONG File : 1;
    ULONG AttemptingDelete : 1;
    ULONG PrefetchCreated : 1;
    ULONG PhysicalMemory : 1;
    ULONG ImageControlAreaOnRemovableMedia : 1;
    ULONG Reserve : 1;
    , /* the second half */
    ULONG Commit : 1;
    ULONG NoChange : 1;
    ULONG WasPurged : 1;
    ULONG UserReference : 1;
    ULONG GlobalMemory : 1;
    ULONG DeleteOnClose : 1;
    ULONG FilePointerNull : 1;
    ULONG PreferredNode : 6;
    ULONG GlobalOnlyPerSession : 1;
    ULONG UserWritable : 1;
    ULONG SystemVaAllocated : 1;
    ULONG PreferredFsCompressionBoundary : 1;
    ULONG UsingFileExtents : 1;
    ULONG PageSize64K : 1;)
} MMSECTION_FLAGS;

typedef struct _SEGMENT {
    REORDER(
    struct _CONTROL_AREA *ControlArea;
    ULONG TotalNumberOfPtes;
    ULONG SegmentFlags;
    ULONG64 NumberOfCommittedPages;
    ULONG64 SizeOfSegment;
    , /* the second half */
    PVOID BasedAddress;
    EX_PUSH_LOCK SegmentLock;
    ULONG64 u1;
    ULONG64 u2;
    MMPTE *PrototypePte;)
} SEGMENT;

typedef struct _CONTROL_AREA {
    REORDER(
    SEGMENT *Segment;
    union {
        LIST_ENTRY ListHead;
        PVOID AweContext;
    };
    ULONG64 NumberOfSectionReferences;
    ULONG64 NumberOfPfnReferences;
    ULONG64 NumberOfMappedViews;
    ULONG64 NumberOfUserReferences;
    union {
        ULONG LongFlags;
        MMSECTION_FLAGS Flags;
    } u;
    union {
        ULONG LongFlags;
    } u1;
    , /* the second half */
    EX_FAST_REF FilePointer;
    LONG ControlAreaLock;
    ULONG ModifiedWriteCount;
    PVOID WaitList;
    ULONG64 u2[2];
    EX_PUSH_LOCK FileObjectLock;
    ULONG64 LockedPages;
    ULONG64 u3;)
} CONTROL_AREA;

typedef struct _MMSUBSECTION_FLAGS {
    USHORT SubsectionAccessed : 1;
    USHORT Protection : 5;
    USHORT StartingSector4132 : 10;
    USHORT SubsectionStatic : 1;
    USHORT GlobalMemory : 1;
    USHORT Spare : 1;
    USHORT OnDereferenceList : 1;
    USHORT SectorEndOffset : 12;
} MMSUBSECTION_FLAGS;

typedef struct _SUBSECTION {
    REORDER(
    CONTROL_AREA *ControlArea;
    MMPTE *SubsectionBase;
    struct _SUBSECTION *NextSubsection;
    union {
        RTL_AVL_TREE GlobalPerSessionHead;
        PVOID CreationWaitList;
        PVOID SessionDriverProtos;
    };
    union {
        ULONG LongFlags;
        MMSUBSECTION_FLAGS SubsectionFlags;
    } u;
    ULONG StartingSector;
    , /* the second half */
    ULONG NumberOfFullSectors;
    ULONG PtesInSubsection;
    union {
        ULONG NumberOfChildViews;
    } u1;
    ULONG UnusedPtes : 30;
    ULONG ExtentQueryNeeded : 1;
    ULONG DirtyPages : 1;)
} SUBSECTION;

typedef struct _SECTION_OBJECT_POINTERS {
    PVOID DataSectionObject;
    struct _SHARED_CACHE_MAP *SharedCacheMap; /* NULL: mini-NT has no cache manager (cc.h) */
    PVOID ImageSectionObject;
} SECTION_OBJECT_POINTERS;

#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

struct _DRIVER_OBJECT;
struct _DEVICE_OBJECT;
typedef NTSTATUS DRIVER_DISPATCH(struct _DEVICE_OBJECT *DeviceObject, PVOID Irp);

/* What the I/O manager keeps for a driver beside its object (Windows
   allocates it right after the driver object, as IoCreateDriver does here). */
typedef struct _DRIVER_EXTENSION {
    REORDER(
    struct _DRIVER_OBJECT *DriverObject;
    PVOID AddDevice;
    , /* the second half */
    ULONG Count;
    UNICODE_STRING ServiceKeyName;)
} DRIVER_EXTENSION;

/* Windows' _DRIVER_OBJECT, member for member. mini-NT's one driver (the
   disk's, \Driver\atapi) is linked into the kernel and does its I/O
   without IRPs, so every MajorFunction entry is IopInvalidDeviceRequest,
   the routine Windows puts where a driver sets none. */
typedef struct _DRIVER_OBJECT {
    REORDER(
    CSHORT Type;
    CSHORT Size;
    struct _DEVICE_OBJECT *DeviceObject;
    ULONG Flags;
    PVOID DriverStart;
    ULONG DriverSize;
    PVOID DriverSection;
    DRIVER_EXTENSION *DriverExtension;
    , /* the second half */
    UNICODE_STRING DriverName;
    PUNICODE_STRING HardwareDatabase;
    PVOID FastIoDispatch;
    NTSTATUS (*DriverInit)(struct _DRIVER_OBJECT *DriverObject, PUNICODE_STRING RegistryPath);
    VOID (*DriverStartIo)(struct _DEVICE_OBJECT *DeviceObject, PVOID Irp);
    VOID (*DriverUnload)(struct _DRIVER_OBJECT *DriverObject);
    DRIVER_DISPATCH *MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];)
} DRIVER_OBJECT;

#define FILE_REMOVABLE_MEDIA 0x00000001
#define FILE_FLOPPY_DISKETTE 0x00000004
#define FILE_DEVICE_DISK 0x00000007
#define IO_TYPE_DEVICE 3
#define IO_TYPE_FILE 5

typedef struct _DEVICE_OBJECT {
    REORDER(
    CSHORT Type;
    USHORT Size;
    LONG ReferenceCount;
    DRIVER_OBJECT *DriverObject;
    struct _DEVICE_OBJECT *NextDevice;
    struct _DEVICE_OBJECT *AttachedDevice;
    PVOID CurrentIrp;
    PVOID Timer;
    , /* the second half */
    ULONG Flags;
    ULONG Characteristics;
    PVOID Vpb;
    PVOID DeviceExtension;
    ULONG DeviceType;
    CCHAR StackSize;
    ULONG AlignmentRequirement;
    ULONG SectorSize;)
} DEVICE_OBJECT, *PDEVICE_OBJECT;

typedef struct _FILE_OBJECT {
    REORDER(
    CSHORT Type;
    CSHORT Size;
    DEVICE_OBJECT *DeviceObject;
    PVOID Vpb;
    PVOID FsContext;
    PVOID FsContext2;
    SECTION_OBJECT_POINTERS *SectionObjectPointer;
    PVOID PrivateCacheMap;
    NTSTATUS FinalStatus;
    struct _FILE_OBJECT *RelatedFileObject;
    BOOLEAN LockOperation;
    BOOLEAN DeletePending;
    BOOLEAN ReadAccess;
    BOOLEAN WriteAccess;
    BOOLEAN DeleteAccess;
    , /* the second half */
    BOOLEAN SharedRead;
    BOOLEAN SharedWrite;
    BOOLEAN SharedDelete;
    ULONG Flags;
    UNICODE_STRING FileName;
    LARGE_INTEGER CurrentByteOffset;
    ULONG Waiters;
    ULONG Busy;
    PVOID LastLock;
    KEVENT Lock;
    KEVENT Event;
    PVOID CompletionContext;
    ULONG64 IrpListLock;
    LIST_ENTRY IrpList;
    PVOID FileObjectExtension;)
} FILE_OBJECT, *PFILE_OBJECT;

/* ---- VADs ------------------------------------------------------------ */

typedef struct _MMVAD_FLAGS {
    REORDER(
    ULONG Lock : 1;
    ULONG LockContended : 1;
    ULONG DeleteInProgress : 1;
    ULONG NoChange : 1;
    , /* the second half */
    ULONG VadType : 3;
    ULONG Protection : 5;
    ULONG PreferredNode : 6;
    ULONG PageSize : 2;
    ULONG PrivateMemory : 1;)
} MMVAD_FLAGS;

typedef struct _MMVAD_FLAGS1 {
    REORDER(
    ULONG CommitCharge : 31;
    , /* the second half */
    ULONG MemCommit : 1;)
} MMVAD_FLAGS1;

typedef struct _MMVAD_FLAGS2 {
    ULONG FileOffset : 24;
    ULONG Large : 1;
    ULONG TrimBehind : 1;
    ULONG Inherit : 1;
    ULONG NoValidationNeeded : 1;
    ULONG PrivateDemandZero : 1;
    ULONG Spare : 3;
} MMVAD_FLAGS2;

typedef struct _MMVAD_SHORT {
    REORDER(
    union {
        struct {
            struct _MMVAD_SHORT *NextVad;
            PVOID ExtraCreateInfo;
        };
        RTL_BALANCED_NODE VadNode;
    };
    ULONG StartingVpn;
    ULONG EndingVpn;
    UCHAR StartingVpnHigh;
    UCHAR EndingVpnHigh;
    UCHAR CommitChargeHigh;
    , /* the second half */
    UCHAR SpareNT64VadUChar;
    LONG ReferenceCount;
    EX_PUSH_LOCK PushLock;
    union {
        ULONG LongFlags;
        MMVAD_FLAGS VadFlags;
    } u;
    union {
        ULONG LongFlags1;
        MMVAD_FLAGS1 VadFlags1;
    } u1;
    PVOID EventList;)
} MMVAD_SHORT;

typedef struct _MMVAD {
    REORDER(
    MMVAD_SHORT Core;
    union {
        ULONG LongFlags2;
        MMVAD_FLAGS2 VadFlags2;
    } u2;
    SUBSECTION *Subsection;
    MMPTE *FirstPrototypePte;
    , /* the second half */
    MMPTE *LastContiguousPte;
    LIST_ENTRY ViewLinks;
    struct _EPROCESS *VadsProcess;
    union {
        PVOID ExtendedInfo;
    } u4;
    FILE_OBJECT *FileObject;)
} MMVAD;

/* VadType values and protections, as Windows numbers them. */
#define VadNone 0
#define VadImageMap 2
#define MM_READONLY 1
#define MM_EXECUTE_READ 3
#define MM_READWRITE 4
#define MM_EXECUTE_READWRITE 6
#define MM_DECOMMIT 0x10

/* ---- paging files and the memory manager's globals ------------------- */

typedef struct _MMPAGING_FILE {
    REORDER(
    ULONG64 Size;
    ULONG64 MaximumSize;
    ULONG64 MinimumSize;
    ULONG64 FreeSpace;
    ULONG64 PeakUsage;
    ULONG64 HighestPage;
    ULONG64 FreeReservationSpace;
    FILE_OBJECT *File;
    PVOID *Entry;
    ULONG NumberOfModWriterEntries;
    UNICODE_STRING PageFileName;
    PVOID Bitmaps;
    , /* the second half */
    ULONG AllocationBitmapHint;
    USHORT PageFileNumber : 4;
    USHORT WsSwapPagefile : 1;
    USHORT NoReservations : 1;
    USHORT VirtualStorePagefile : 1;
    USHORT SwapSupported : 1;
    USHORT NodeInserted : 1;
    USHORT StackNotified : 1;
    USHORT BackedBySCM : 1;
    USHORT SpecialPurposeMemory : 1;
    USHORT Spare0 : 3;
    HANDLE FileHandle;
    LONG SpinLock;)
} MMPAGING_FILE, *PMMPAGING_FILE;

#define MAX_PAGE_FILES 16

typedef struct _MI_VISIBLE_PARTITION {
    REORDER(
    ULONG64 LowestPhysicalPage;
    ULONG64 HighestPhysicalPage;
    ULONG64 NumberOfPhysicalPages;
    , /* the second half */
    ULONG NumberOfPagingFiles;
    MMPAGING_FILE *PagingFile[MAX_PAGE_FILES];
    ULONG64 AvailablePages;)
} MI_VISIBLE_PARTITION;

typedef struct _MI_PARTITION {
    REORDER(
    USHORT PartitionId;
    , /* the second half */
    ULONG64 Flags;
    MI_VISIBLE_PARTITION Vp;)
} MI_PARTITION;

typedef struct _MI_HARDWARE_STATE {
    REORDER(
    ULONG NodeMask;
    ULONG PhysicalAddressBits;
    ULONG LogicalProcessorsPerCore;
    , /* the second half */
    ULONG64 TotalPagesAllowed;
    ULONG64 InvalidPteMask;
    ULONG64 LargePageColors;)
} MI_HARDWARE_STATE;

typedef struct _MI_SYSTEM_INFORMATION {
    REORDER(
    ULONG64 SystemImages;
    , /* the second half */
    MI_HARDWARE_STATE Hardware;
    ULONG64 SystemVaStart;)
} MI_SYSTEM_INFORMATION;

/* ---- the PFN database ------------------------------------------------ */

/* Page locations, as Windows' MMLISTS. */
#define ZeroedPageList 0
#define FreePageList 1
#define StandbyPageList 2
#define ModifiedPageList 3
#define ModifiedNoWritePageList 4
#define BadPageList 5
#define ActiveAndValid 6
#define TransitionPage 7

typedef struct _MMPFNENTRY1 {
    UCHAR PageLocation : 3;
    UCHAR WriteInProgress : 1;
    UCHAR Modified : 1;
    UCHAR ReadInProgress : 1;
    UCHAR CacheAttribute : 2;
} MMPFNENTRY1;

typedef struct _MMPFN {
    union {
        ULONG64 Flink; /* next PFN on its list */
        ULONG WsIndex;
    } u1;
    MMPTE *PteAddress; /* the PTE (or prototype PTE) that maps this page */
    union {
        ULONG64 Blink;
        ULONG64 ShareCount;
    } u2;
    union {
        struct {
            USHORT ReferenceCount;
            MMPFNENTRY1 e1;
        };
        ULONG EntireField;
    } u3;
    MMPTE OriginalPte; /* what the PTE becomes when the page leaves RAM */
    union {
        ULONG64 PteFrame : 36; /* the page-table page holding PteAddress */
        ULONG64 PrototypePte : 1;
        ULONG64 EntireField;
    } u4;
} MMPFN, *PMMPFN;

typedef struct _MMPFNLIST {
    ULONG64 Total;
    ULONG ListName;
    ULONG64 Flink;
    ULONG64 Blink;
} MMPFNLIST;

/* A process's working set: the user pages it has valid. */
typedef struct _MMWSL {
    ULONG64 LastEntry;
    ULONG64 MaximumEntries;
    ULONG64 *Wsle; /* VAs, 0 for a free slot */
} MMWSL;

typedef struct _MMSUPPORT {
    ULONG64 WorkingSetSize;
    ULONG64 MinimumWorkingSetSize;
    ULONG64 PeakWorkingSetSize;
    ULONG64 PageFaultCount;
    MMWSL *VmWorkingSetList;
} MMSUPPORT;

typedef struct _SECTION {
    RTL_BALANCED_NODE SectionNode;
    ULONG64 StartingVpn;
    ULONG64 EndingVpn;
    union {
        CONTROL_AREA *ControlArea;
        FILE_OBJECT *FileObject;
    } u1;
    ULONG64 SizeOfSection;
    ULONG u;
    ULONG InitialPageProtection;
} SECTION;

/* ---- loaded modules -------------------------------------------------- */

typedef struct _KLDR_DATA_TABLE_ENTRY {
    REORDER(
    LIST_ENTRY InLoadOrderLinks;
    PVOID ExceptionTable;
    ULONG ExceptionTableSize;
    PVOID GpValue;
    PVOID NonPagedDebugInfo;
    PVOID DllBase;
    PVOID EntryPoint;
    ULONG SizeOfImage;
    UNICODE_STRING FullDllName;
    UNICODE_STRING BaseDllName;
    , /* the second half */
    ULONG Flags;
    USHORT LoadCount;
    USHORT SignatureLevel;
    PVOID SectionPointer;
    ULONG CheckSum;
    ULONG CoverageSectionSize;
    PVOID CoverageSection;
    PVOID LoadedImports;
    PVOID Spare;
    ULONG SizeOfImageNotRounded;
    ULONG TimeDateStamp;)
} KLDR_DATA_TABLE_ENTRY;

/* ---- objects and handles --------------------------------------------- */

typedef struct _QUAD {
    LONG64 UseThisFieldToCopy;
} QUAD;

typedef struct _OBJECT_HEADER {
    REORDER(
    LONG64 PointerCount;
    union {
        LONG64 HandleCount;
        PVOID NextToFree;
    };
    EX_PUSH_LOCK Lock;
    UCHAR TypeIndex;
    union {
        UCHAR TraceFlags;
        struct {
            UCHAR DbgRefTrace : 1;
            UCHAR DbgTracePermanent : 1;
        };
    };
    , /* the second half */
    UCHAR InfoMask;
    union {
        UCHAR Flags;
        struct {
            UCHAR NewObject : 1;
            UCHAR KernelObject : 1;
            UCHAR KernelOnlyAccess : 1;
            UCHAR ExclusiveObject : 1;
            UCHAR PermanentObject : 1;
            UCHAR DefaultSecurityQuota : 1;
            UCHAR SingleHandleEntry : 1;
            UCHAR DeletedInline : 1;
        };
    };
    ULONG Reserved;
    union {
        PVOID ObjectCreateInfo;
        PVOID QuotaBlockCharged;
    };
    PVOID SecurityDescriptor;)

    /* Objects are 16-byte aligned in every layout: an _EX_FAST_REF keeps its
       reference count in a pointer's low four bits. */
    QUAD Body __attribute__((aligned(16)));
} OBJECT_HEADER, *POBJECT_HEADER;

typedef struct _OBJECT_TYPE_INITIALIZER {
    USHORT Length;
    ULONG ObjectTypeFlags;
    ULONG ObjectTypeCode;
    ULONG InvalidAttributes;
    ULONG ValidAccessMask;
    ULONG PoolType;
    ULONG DefaultPagedPoolCharge;
    ULONG DefaultNonPagedPoolCharge;
} OBJECT_TYPE_INITIALIZER;

typedef struct _OBJECT_TYPE {
    REORDER(
    LIST_ENTRY TypeList;
    UNICODE_STRING Name;
    PVOID DefaultObject;
    UCHAR Index;
    ULONG TotalNumberOfObjects;
    ULONG TotalNumberOfHandles;
    , /* the second half */
    ULONG HighWaterNumberOfObjects;
    ULONG HighWaterNumberOfHandles;
    OBJECT_TYPE_INITIALIZER TypeInfo;
    EX_PUSH_LOCK TypeLock;
    ULONG Key;
    LIST_ENTRY CallbackList;)
} OBJECT_TYPE, *POBJECT_TYPE;

typedef union _HANDLE_TABLE_ENTRY {
    volatile LONG64 VolatileLowValue;
    LONG64 LowValue;
    struct {
        struct _HANDLE_TABLE_ENTRY_INFO *InfoTable;
        LONG64 HighValue;
    };
    struct {
        ULONG64 Unlocked : 1;
        ULONG64 RefCnt : 16;
        ULONG64 Attributes : 3;
        ULONG64 ObjectPointerBits : 44;
        ULONG GrantedAccessBits : 25;
        ULONG NoRightsUpgrade : 1;
        ULONG Spare1 : 6;
        ULONG Spare2;
    };
} HANDLE_TABLE_ENTRY, *PHANDLE_TABLE_ENTRY;

typedef struct _HANDLE_TABLE {
    REORDER(
    ULONG NextHandleNeedingPool;
    LONG ExtraInfoPages;
    volatile ULONG64 TableCode;
    struct _EPROCESS *QuotaProcess;
    LIST_ENTRY HandleTableList;
    , /* the second half */
    ULONG UniqueProcessId;
    ULONG Flags;
    EX_PUSH_LOCK HandleContentionEvent;
    EX_PUSH_LOCK HandleTableLock;
    PVOID DebugInfo;)
} HANDLE_TABLE, *PHANDLE_TABLE;

/* ---- threads, processes, the processor block ------------------------- */

/* The trap frame is laid out in the order the entry stubs in trap.S push
   it; ksamd64.h (generated from this header) keeps the assembly honest. */
typedef struct _KTRAP_FRAME {
    ULONG64 R15;
    ULONG64 R14;
    ULONG64 R13;
    ULONG64 R12;
    ULONG64 Rbp;
    ULONG64 Rbx;
    ULONG64 Rdi;
    ULONG64 Rsi;
    ULONG64 R11;
    ULONG64 R10;
    ULONG64 R9;
    ULONG64 R8;
    ULONG64 Rdx;
    ULONG64 Rcx;
    ULONG64 Rax;
    ULONG64 Vector;
    ULONG64 ErrorCode;
    ULONG64 Rip;
    ULONG64 SegCs;
    ULONG64 EFlags;
    ULONG64 Rsp;
    ULONG64 SegSs;
} KTRAP_FRAME, *PKTRAP_FRAME;

/* Timers, wait blocks and the other shared kernel objects (KTHREAD has a
   timer and wait blocks of its own). */
#include "kobj.h"

typedef struct _KPROCESS {
    REORDER(
    DISPATCHER_HEADER Header;
    LIST_ENTRY ProfileListHead;
    ULONG64 DirectoryTableBase;
    LIST_ENTRY ThreadListHead;
    , /* the second half */
    ULONG ProcessLock;
    ULONG64 Affinity;
    LIST_ENTRY ReadyListHead;
    LIST_ENTRY ProcessListEntry;
    ULONG64 UserDirectoryTableBase;)
} KPROCESS, *PKPROCESS;

typedef struct _KAPC_STATE {
    REORDER(
    LIST_ENTRY ApcListHead[2];
    KPROCESS *Process;
    , /* the second half */
    UCHAR InProgressFlags;
    UCHAR KernelApcPending;
    UCHAR UserApcPendingAll;)
} KAPC_STATE;

/* Thread states: KTHREAD.State holds a _KTHREAD_STATE. */
typedef enum _KTHREAD_STATE {
    Initialized = 0,
    Ready = 1,
    Running = 2,
    Standby = 3,
    Terminated = 4,
    Waiting = 5,
    Transition = 6,
    DeferredReady = 7,
    GateWaitObsolete = 8,
    WaitingForProcessInSwap = 9,
} KTHREAD_STATE;

typedef struct _KTHREAD {
    REORDER(
    DISPATCHER_HEADER Header;
    PVOID SListFaultAddress;
    ULONG64 QuantumTarget;
    PVOID InitialStack;
    PVOID StackLimit;
    PVOID StackBase;
    ULONG64 ThreadLock;
    ULONG64 CycleTime;
    PVOID KernelStack;
    , /* the second half */
    KTRAP_FRAME *TrapFrame;
    KAPC_STATE ApcState;
    PVOID Teb;
    LIST_ENTRY MutantListHead; /* the mutants it owns (KMUTANT.MutantListEntry) */
    ULONG64 WaitTime; /* tick at which the current wait began */
    KTIMER Timer;     /* the thread's own timer: its delays and timeouts */
    KWAIT_BLOCK WaitBlock[4];
    UCHAR State;
    UCHAR WaitReason;
    KPROCESS *Process;
    LIST_ENTRY ThreadListEntry;
    LIST_ENTRY WaitListEntry;)
 /* ready or delayed queue link */
} KTHREAD, *PKTHREAD;

typedef struct _ETHREAD {
    REORDER(
    KTHREAD Tcb;
    LARGE_INTEGER CreateTime;
    PVOID StartAddress;
    , /* the second half */
    LARGE_INTEGER ExitTime;
    CLIENT_ID Cid;
    PVOID Win32StartAddress;
    LIST_ENTRY ThreadListEntry;)
} ETHREAD, *PETHREAD;

/* A name as ObQueryNameString returns it; the buffer follows. */
typedef struct _OBJECT_NAME_INFORMATION {
    UNICODE_STRING Name;
} OBJECT_NAME_INFORMATION;

/* The image's NT path (\Device\HarddiskVolume1\...), for auditing. */
typedef struct _SE_AUDIT_PROCESS_CREATION_INFO {
    OBJECT_NAME_INFORMATION *ImageFileName;
} SE_AUDIT_PROCESS_CREATION_INFO;

/* The PEB, TEB and the loader's structures. */
#include "peb.h"

/* A rundown reference: Count in units of 2, bit 0 = rundown active. */
typedef struct _EX_RUNDOWN_REF {
    union {
        ULONG64 Count;
        PVOID Ptr;
    };
} EX_RUNDOWN_REF;

#define STATUS_PENDING ((NTSTATUS)0x00000103) /* a running process's ExitStatus */

/* Windows 10's executive process, with the members of its 19041 layout
   that mini-NT can give a meaning (names and types Windows'; Session,
   Job, DebugPort, Win32Process and the quota block stay NULL: mini-NT has
   no sessions, jobs, debug ports, win32k or quota blocks). */
typedef struct _EPROCESS {
    REORDER(
    KPROCESS Pcb;
    EX_PUSH_LOCK ProcessLock;
    HANDLE UniqueProcessId;
    LIST_ENTRY ActiveProcessLinks;
    EX_RUNDOWN_REF RundownProtect;
    union {
        ULONG Flags2;
        struct {
            ULONG JobNotReallyActive : 1;
            ULONG AccountingFolded : 1;
            ULONG NewProcessReported : 1;
            ULONG ExitProcessReported : 1;
            ULONG ReportCommitChanges : 1;
            ULONG LastReportMemory : 1;
            ULONG ForceWakeCharge : 1;
            ULONG CrossSessionCreate : 1;
            ULONG NeedsHandleRundown : 1;
            ULONG RefTraceEnabled : 1;
            ULONG PicoCreated : 1;
            ULONG EmptyJobEvaluated : 1;
            ULONG DefaultPagePriority : 3;
            ULONG PrimaryTokenFrozen : 1;
            ULONG ProcessVerifierTarget : 1;
            ULONG RestrictSetThreadContext : 1;
            ULONG AffinityPermanent : 1;
            ULONG AffinityUpdateEnable : 1;
            ULONG PropagateNode : 1;
            ULONG ExplicitAffinity : 1;
            ULONG ProcessExecutionState : 2;
            ULONG EnableReadVmLogging : 1;
            ULONG EnableWriteVmLogging : 1;
            ULONG FatalAccessTerminationRequested : 1;
            ULONG DisableSystemAllowedCpuSet : 1;
            ULONG ProcessStateChangeRequest : 2;
            ULONG ProcessStateChangeInProgress : 1;
            ULONG InPrivate : 1;
        };
    };
    union {
        ULONG Flags;
        struct {
            ULONG CreateReported : 1;
            ULONG NoDebugInherit : 1;
            ULONG ProcessExiting : 1;
            ULONG ProcessDelete : 1;
            ULONG ManageExecutableMemoryWrites : 1;
            ULONG VmDeleted : 1;
            ULONG OutswapEnabled : 1;
            ULONG Outswapped : 1;
            ULONG FailFastOnCommitFail : 1;
            ULONG Wow64VaSpace4Gb : 1;
            ULONG AddressSpaceInitialized : 2;
            ULONG SetTimerResolution : 1;
            ULONG BreakOnTermination : 1;
            ULONG DeprioritizeViews : 1;
            ULONG WriteWatch : 1;
            ULONG ProcessInSession : 1;
            ULONG OverrideAddressSpace : 1;
            ULONG HasAddressSpace : 1;
            ULONG LaunchPrefetched : 1;
            ULONG Background : 1;
            ULONG VmTopDown : 1;
            ULONG ImageNotifyDone : 1;
            ULONG PdeUpdateNeeded : 1;
            ULONG VdmAllowed : 1;
            ULONG ProcessRundown : 1;
            ULONG ProcessInserted : 1;
            ULONG DefaultIoPriority : 3;
            ULONG ProcessSelfDelete : 1;
            ULONG SetTimerResolutionLink : 1;
        };
    };
    LARGE_INTEGER CreateTime;
    ULONG64 ProcessQuotaUsage[2];
    ULONG64 ProcessQuotaPeak[2];
    ULONG64 PeakVirtualSize;
    ULONG64 VirtualSize;
    PVOID Session;
    PVOID SectionObject;
    PVOID SectionBaseAddress;
    ULONG Cookie;
    EX_FAST_REF Token; /* the primary _TOKEN, RefCnt cached references in its low bits */
    EX_PUSH_LOCK AddressCreationLock;
    struct _ETHREAD *RotateInProgress;
    struct _ETHREAD *ForkInProgress;
    PVOID QuotaBlock;
    HANDLE InheritedFromUniqueProcessId;
    PEB *Peb;
    HANDLE_TABLE *ObjectTable;
    PVOID DebugPort;
    PVOID ExceptionPortData;
    , /* the second half */
    ULONG64 CommitChargeLimit;
    ULONG64 CommitCharge;
    ULONG64 CommitChargePeak;
    LARGE_INTEGER ExitTime;
    FILE_OBJECT *ImageFilePointer;
    SE_AUDIT_PROCESS_CREATION_INFO SeAuditProcessCreationInfo;
    UCHAR ImageFileName[15];
    UCHAR PriorityClass;
    PVOID Win32Process;
    PVOID Job;
    ULONG64 OwnerProcessId;
    LIST_ENTRY ThreadListHead;
    ULONG ActiveThreads;
    ULONG ImagePathHash;
    LONG ExitStatus;
    LONG LastThreadExitStatus;
    LARGE_INTEGER ReadOperationCount;
    LARGE_INTEGER WriteOperationCount;
    LARGE_INTEGER OtherOperationCount;
    LARGE_INTEGER ReadTransferCount;
    LARGE_INTEGER WriteTransferCount;
    LARGE_INTEGER OtherTransferCount;
    RTL_AVL_TREE VadRoot;
    PVOID VadHint;
    ULONG64 VadCount;
    union {
        ULONG Flags3;
        struct {
            ULONG Minimal : 1;
            ULONG ReplacingPageRoot : 1;
            ULONG Crashed : 1;
            ULONG JobVadsAreTracked : 1;
            ULONG VadTrackingDisabled : 1;
            ULONG AuxiliaryProcess : 1;
            ULONG SubsystemProcess : 1;
            ULONG IndirectCpuSets : 1;
            ULONG RelinquishedCommit : 1;
            ULONG HighGraphicsPriority : 1;
            ULONG CommitFailLogged : 1;
            ULONG ReserveFailLogged : 1;
            ULONG SystemProcess : 1;
            ULONG HideImageBaseAddresses : 1;
            ULONG AddressPolicyFrozen : 1;
            ULONG ProcessFirstResume : 1;
            ULONG ForegroundExternal : 1;
            ULONG ForegroundSystem : 1;
            ULONG HighMemoryPriority : 1;
            ULONG EnableProcessSuspendResumeLogging : 1;
            ULONG EnableThreadSuspendResumeLogging : 1;
            ULONG SecurityDomainChanged : 1;
            ULONG SecurityFreezeComplete : 1;
            ULONG VmProcessorHost : 1;
            ULONG VmProcessorHostTransition : 1;
            ULONG AltSyscall : 1;
            ULONG TimerResolutionIgnore : 1;
            ULONG DisallowUserTerminate : 1;
        };
    };
    MMSUPPORT Vm;)
} EPROCESS, *PEPROCESS;

typedef struct _KTSS64 {
    ULONG Reserved0;
    ULONG64 Rsp0;
    ULONG64 Rsp1;
    ULONG64 Rsp2;
    ULONG64 Ist[8];
    ULONG64 Reserved2;
    USHORT Reserved3;
    USHORT IoMapBase;
} __attribute__((packed, aligned(16))) KTSS64;

typedef struct _KIDTENTRY64 {
    USHORT OffsetLow;
    USHORT Selector;
    USHORT IstIndex : 3;
    USHORT Reserved0 : 5;
    USHORT Type : 5;
    USHORT Dpl : 2;
    USHORT Present : 1;
    USHORT OffsetMiddle;
    ULONG OffsetHigh;
    ULONG Reserved1;
} KIDTENTRY64;

typedef struct _KGDTENTRY64 {
    ULONG64 Value;
} KGDTENTRY64;

typedef struct _KPRCB {
    REORDER(
    ULONG MxCsr;
    UCHAR LegacyNumber;
    UCHAR ReservedMustBeZero;
    BOOLEAN InterruptRequest;
    BOOLEAN IdleHalt;
    KTHREAD *CurrentThread;
    , /* the second half */
    KTHREAD *NextThread;
    KTHREAD *IdleThread;
    UCHAR NestingLevel;
    ULONG Number;
    ULONG64 RspBase;
    ULONG64 InterruptCount;)
} KPRCB, *PKPRCB;

typedef struct _KPCR {
    REORDER(
    union {
        struct {
            KGDTENTRY64 *GdtBase;
            KTSS64 *TssBase;
            ULONG64 UserRsp;
            struct _KPCR *Self;
            KPRCB *CurrentPrcb;
            PVOID LockArray;
            PVOID Used_Self;
        };
    };
    KIDTENTRY64 *IdtBase;
    ULONG64 Unused[2];
    UCHAR Irql;
    UCHAR SecondLevelCacheAssociativity;
    , /* the second half */
    UCHAR ObsoleteNumber;
    UCHAR Fill0;
    USHORT MajorVersion;
    USHORT MinorVersion;
    PVOID KdVersionBlock;
    KPRCB Prcb;)
} KPCR, *PKPCR;

#endif
