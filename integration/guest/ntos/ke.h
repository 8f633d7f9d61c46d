/*
 * The kernel's internal interfaces: what each subsystem file offers the
 * others. Windows' own globals that Frost reads are declared here and
 * defined in the file of the subsystem that owns them.
 */
#ifndef MININT_KE_H
#define MININT_KE_H

#include "ntdef.h"
#include "../include/loaderblock.h"
#include "kd.h"

#define PAGE_SIZE 4096ull
#define PAGE_SHIFT 12
#define MM_USER_PROBE_ADDRESS 0x00007fffffff0000ull
#define MM_POOL_START 0xffffa00000000000ull
#define MM_POOL_SIZE 0x0000000020000000ull /* 512 MiB of VA per pool */
#define MM_PAGED_POOL_START 0xffffa00020000000ull
#define MM_PFN_DATABASE 0xffffa00100000000ull
#define MM_LOWEST_USER_ADDRESS 0x10000ull

/* Segment selectors, as Windows x64 numbers them. */
#define KGDT64_R0_CODE 0x10
#define KGDT64_R0_DATA 0x18
#define KGDT64_R3_CMCODE 0x20
#define KGDT64_R3_DATA 0x28
#define KGDT64_R3_CODE 0x30
#define KGDT64_SYS_TSS 0x40
#define RPL_MASK 3

#define CLOCK_HZ 100
#define KERNEL_STACK_SIZE 0x4000

/* ---- globals Frost reads (names are Windows') ------------------------ */
extern LIST_ENTRY PsActiveProcessHead;
extern EPROCESS *PsInitialSystemProcess;
extern LIST_ENTRY PsLoadedModuleList;
extern ULONG KiImplementedPhysicalBits;
extern MI_SYSTEM_INFORMATION MiState;
extern MI_PARTITION MiSystemPartition;
extern ULONG InitWinPEModeType;
extern BOOLEAN InitIsWinPEMode;
extern UCHAR ObHeaderCookie;
extern OBJECT_TYPE *ObTypeIndexTable[];
extern HANDLE_TABLE *ObpKernelHandleTable;
extern KPCR KiInitialPcr;

/* ---- rtl / serial ----------------------------------------------------- */
void *memset(void *d, int c, SIZE_T n);
void *memcpy(void *d, const void *s, SIZE_T n);
int RtlCompareMemory(const void *a, const void *b, SIZE_T n);
SIZE_T RtlStringLength(const char *s);
int RtlEqualAsciiInsensitive(const char *a, const char *b, SIZE_T n);
void KdInitSerial(void);
void DbgPrint(const char *fmt, ...);
__attribute__((noreturn)) void KeBugCheckEx(ULONG code, ULONG64 p1, ULONG64 p2, ULONG64 p3, ULONG64 p4);
ULONG64 RtlRandom(void);
ULONG RtlHashAsciiPathUpcase(const char *s, SIZE_T n);
void RtlInitUnicodeFromAscii(UNICODE_STRING *us, const char *s);

/* Bugcheck codes (Windows' where one fits). */
#define KMODE_EXCEPTION_NOT_HANDLED 0x1E
#define PAGE_FAULT_IN_NONPAGED_AREA 0x50
#define UNEXPECTED_KERNEL_MODE_TRAP 0x7F
#define PHASE1_INITIALIZATION_FAILED 0x32
#define PROCESS_INITIALIZATION_FAILED 0x60
#define NO_PAGES_AVAILABLE 0x4D
#define INACCESSIBLE_BOOT_DEVICE 0x7B

/* ---- port I/O and CPU -------------------------------------------------- */
static inline void WRITE_PORT_UCHAR(USHORT p, UCHAR v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
static inline UCHAR READ_PORT_UCHAR(USHORT p) {
    UCHAR v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline ULONG64 __readcr3(void) {
    ULONG64 v;
    __asm__ volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
static inline void __writecr3(ULONG64 v) { __asm__ volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
static inline void __invlpg(ULONG64 va) { __asm__ volatile("invlpg (%0)" ::"r"(va) : "memory"); }
static inline void __writemsr(ULONG m, ULONG64 v) {
    __asm__ volatile("wrmsr" ::"c"(m), "a"((ULONG)v), "d"((ULONG)(v >> 32)));
}
static inline ULONG64 __rdtsc(void) {
    ULONG lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((ULONG64)hi << 32) | lo;
}
static inline void _disable(void) { __asm__ volatile("cli" ::: "memory"); }

/* ---- ke: traps, scheduler ---------------------------------------------- */
void KiInitializeProcessor(void);
void KiInitializeClock(void);
__attribute__((noreturn)) void KiIdleLoop(void);
void KiReadyThread(KTHREAD *t);
void KiSwapThread(void);
void KeDelayExecutionThread(ULONG64 ticks);
__attribute__((noreturn)) void KiTerminateCurrentThread(void);
KTHREAD *KeGetCurrentThread(void);
extern volatile ULONG64 KeTickCount;

/* stacktrace.c: the call chains of the call-stack test. A function calls
   these first thing with its own address, _AddressOfReturnAddress()
   (its rsp at entry) and __builtin_return_address(0). */
void *_AddressOfReturnAddress(void); /* MSVC's intrinsic, as intrin.h declares it */
void KiReportServiceStack(const char *at, PVOID function, ULONG64 sp, ULONG64 returnAddress);
void KiReportNestedStack(const char *at, PVOID function, ULONG64 sp, ULONG64 returnAddress);
#define KI_REPORT_STACK(report, function) \
    report(#function, (PVOID)function, (ULONG64)_AddressOfReturnAddress(), (ULONG64)__builtin_return_address(0))

/* assembly (trap.S) */
void KiSwapContext(PVOID *oldKernelStack, PVOID newKernelStack);
void KiThreadStartup(void);
__attribute__((noreturn)) void KiStartUserThread(ULONG64 rip, ULONG64 rsp, ULONG64 arg);
void KiSystemCall64(void);
void KiLoadDescriptorTables(PVOID gdtr, PVOID idtr, USHORT tss);
extern ULONG64 KiIdtHandlers[256];

/* ---- mm ----------------------------------------------------------------- */
#define NonPagedPool 0
#define PagedPool 1
#define SWIZZLE_BIT 0x10ull
/* ProtoAddress of a "VAD-based" prototype PTE: only the VAD knows it. */
#define MI_PTE_LOOKUP_NEEDED 0xFFFFFFFF0000ll
#define MM_NOACCESS 0x18

extern ULONG64 MmSystemDirectoryTableBase;
extern ULONG64 MmPhysicalMapBase;
extern MMPFN *MmPfnDatabase;
extern MMPFNLIST MmFreePageListHead, MmStandbyPageListHead, MmModifiedPageListHead;

/* mm.c */
void MmInitSystem(LOADER_PARAMETER_BLOCK *lb);
PVOID MmGetVirtualForPhysical(ULONG64 pa);
ULONG64 MmGetPhysicalAddress(ULONG64 dtb, ULONG64 va);
MMPTE MiMakeValidPte(ULONG64 pa, BOOLEAN user, BOOLEAN write, BOOLEAN execute);
MMPTE *MiGetPteAddress(ULONG64 dtb, ULONG64 va, int level);
MMPTE *MiGetPteAddressCreate(ULONG64 dtb, ULONG64 va, int level);
NTSTATUS MiMapPage(ULONG64 dtb, ULONG64 va, ULONG64 pa, BOOLEAN user, BOOLEAN write, BOOLEAN execute);
void MiUnmapPage(ULONG64 dtb, ULONG64 va);
ULONG64 MiCreateProcessAddressSpace(void);
PVOID ExAllocatePoolWithTag(ULONG poolType, SIZE_T size, ULONG tag);
BOOLEAN MmProbeUserRange(const void *p, SIZE_T len, BOOLEAN write);
void MiFreeInitializationCode(void);

/* pfn.c */
#define MI_PFN(pfn) (&MmPfnDatabase[(pfn)])
void MiInitializePfnDatabase(LOADER_PARAMETER_BLOCK *lb);
ULONG64 MiAllocatePhysicalPage(void);   /* zeroed, for the kernel */
ULONG64 MiRemoveAnyPage(void);          /* a frame (pfn), not zeroed */
void MiInsertPageInFreeList(ULONG64 pfn);
void MiInsertPageInList(MMPFNLIST *list, ULONG64 pfn);
void MiUnlinkPageFromList(ULONG64 pfn);
ULONG64 MiCountFreePages(void);

/* pte.c: every invalid PTE is written and read through these */
ULONG64 MiSwizzleInvalidPte(ULONG64 value);
ULONG64 MiUnswizzle(ULONG64 raw);
ULONG64 MiReadPte(const MMPTE *pte);             /* unswizzled */
void MiWriteInvalidPte(MMPTE *pte, ULONG64 value); /* swizzles */
ULONG64 MiMakeTransitionPte(ULONG64 pfn, ULONG protection);
ULONG64 MiMakePagefilePte(ULONG pagefile, ULONG64 offset, ULONG protection);
ULONG64 MiMakeDemandZeroPte(ULONG protection);
ULONG64 MiMakeProtoPointerPte(MMPTE *proto);
ULONG64 MiMakeSubsectionPte(SUBSECTION *s, ULONG protection);
BOOLEAN MiProtectionWritable(ULONG protection);
BOOLEAN MiProtectionExecutable(ULONG protection);

/* vad.c */
MMVAD *MiAllocateVad(ULONG64 start, ULONG64 end, ULONG type, ULONG protection, BOOLEAN priv, BOOLEAN commit);
MMVAD_SHORT *MiAllocateShortVad(ULONG64 start, ULONG64 end, ULONG protection, BOOLEAN commit);
void MiInsertVad(EPROCESS *p, MMVAD_SHORT *vad);
MMVAD_SHORT *MiLocateAddress(EPROCESS *p, ULONG64 va);
ULONG64 MiVadStart(MMVAD_SHORT *v);
ULONG64 MiVadEnd(MMVAD_SHORT *v); /* exclusive */
MMVAD_SHORT *MiFirstVad(EPROCESS *p);
MMVAD_SHORT *MiNextVad(MMVAD_SHORT *v);

/* fault.c */
NTSTATUS MmAccessFault(ULONG64 va, BOOLEAN write, BOOLEAN user);
void MiMakePageTableResident(MMPTE *pde);
void MiAddToWorkingSet(EPROCESS *p, ULONG64 va);
void MiInitializeWorkingSet(EPROCESS *p);
NTSTATUS MiReadFilePage(SUBSECTION *s, MMPTE *proto, PVOID dst);

/* section.c */
MMPTE *MiVadPrototypePte(MMVAD *vad, ULONG64 va);
NTSTATUS MmCreateImageSection(FILE_OBJECT *fo, CONTROL_AREA **out);
NTSTATUS MmMapImageView(EPROCESS *p, CONTROL_AREA *ca, ULONG64 base, ULONG64 *viewSize);

/* pagefile.c */
NTSTATUS MiReadPagefilePage(ULONG pagefile, ULONG64 offset, PVOID dst);
NTSTATUS MiWritePagefilePage(ULONG pagefile, ULONG64 offset, const void *src);
BOOLEAN MiAllocatePagefileSlot(ULONG *pagefile, ULONG64 *offset);
void MiFreePagefileSlot(ULONG pagefile, ULONG64 offset);

/* wsmgr.c */
void MiStartBalanceSetManager(LOADER_PARAMETER_BLOCK *lb);
extern BOOLEAN MmWorkloadSettled;
extern ULONG64 MmBalancePasses;

/* ---- ob ----------------------------------------------------------------- */
void ObInitSystem(void);
PVOID ObCreateObject(OBJECT_TYPE *type, SIZE_T bodySize);
OBJECT_TYPE *ObGetObjectType(PVOID body);
HANDLE_TABLE *ExCreateHandleTable(EPROCESS *owner);
NTSTATUS ExCreateHandle(HANDLE_TABLE *ht, PVOID body, ACCESS_MASK access, HANDLE *out);
NTSTATUS ObInsertObject(PVOID body, ACCESS_MASK access, HANDLE *handle);
NTSTATUS ObReferenceObjectByHandle(HANDLE h, OBJECT_TYPE *type, PVOID *body);
NTSTATUS ObCloseHandle(HANDLE h);
PVOID ObLookupNamedObject(const char *name, SIZE_T len);
#include "ob.h" /* optional headers, directories, named objects */
extern OBJECT_TYPE *ObpTypeObjectType, *PsProcessType, *PsThreadType, *ExEventObjectType, *IoDeviceObjectType,
    *IoFileObjectType, *ObpSymbolicLinkObjectType, *MmSectionObjectType;

typedef struct _OBJECT_SYMBOLIC_LINK {
    LARGE_INTEGER CreationTime;
    UNICODE_STRING LinkTarget;
    const char *LinkTargetAscii;
} OBJECT_SYMBOLIC_LINK;

/* ---- io ------------------------------------------------------------------ */
void IoInitSystem(void);
BOOLEAN IoIsDeviceEjectable(PDEVICE_OBJECT DeviceObject);
extern DEVICE_OBJECT *IoBootVolume;

/* The C: volume's file table (see integration/guest/README.md). */
typedef struct _FROSTFS_ENTRY {
    char Name[88];
    ULONG Flags;
    ULONG Reserved;
    ULONG64 ExtentOffset;
    ULONG64 ExtentCapacity;
    ULONG64 FileSize;
    ULONG64 Reserved2;
} FROSTFS_ENTRY;
#define FROSTFS_EXISTS 1

FROSTFS_ENTRY *FsLookup(const char *path, SIZE_T len, ULONG *index);
NTSTATUS FsUpdateEntry(ULONG index);
NTSTATUS FsRead(FROSTFS_ENTRY *e, ULONG64 offset, PVOID buf, ULONG64 len);
NTSTATUS FsWrite(FROSTFS_ENTRY *e, ULONG64 offset, const void *buf, ULONG64 len);
NTSTATUS FsZeroExtent(FROSTFS_ENTRY *e, ULONG64 offset, ULONG64 len);
/* Resolves an NT path (\??\C:\x) to a volume-relative path on C:. */
NTSTATUS IopResolveVolumePath(const char *ntpath, SIZE_T len, DEVICE_OBJECT **dev, const char **rel, SIZE_T *rellen);
NTSTATUS IopCreateFileObject(DEVICE_OBJECT *dev, const char *rel, SIZE_T rellen, ULONG fsIndex, BOOLEAN write,
                             FILE_OBJECT **out);
NTSTATUS ExCaptureUnicodeToAscii(const UNICODE_STRING *user, char *buf, SIZE_T cap, SIZE_T *len);

/* ---- ps ----------------------------------------------------------------- */
void PsInitSystem(LOADER_PARAMETER_BLOCK *lb, void (*phase1)(PVOID));
EPROCESS *PsGetCurrentProcess(void);
ETHREAD *PspCreateThread(EPROCESS *p, void (*start)(PVOID), PVOID ctx);
NTSTATUS PspCreateUserProcess(const char *ntpath, SIZE_T len, EPROCESS *parent, EPROCESS **out, ETHREAD **thread);
void PsInitLoadedModuleList(LOADER_PARAMETER_BLOCK *lb);

/* ---- ex / registry -------------------------------------------------------- */
void CmInitSystem(LOADER_PARAMETER_BLOCK *lb);
extern const char *CmLoadOptions;

/* ---- init ------------------------------------------------------------------ */
void Phase1Initialization(PVOID Context);

#endif
