/*
 * What Windows' debuggers and forensic tools find without being told:
 * the debugger data block (KdDebuggerDataBlock, OwnerTag 'KDBG'), the
 * version block, the shared user data page at its fixed address, and the
 * types and enums their symbol classes ask the PDB for.
 *
 * Unlike the kernel's own structures these are interfaces with fixed
 * layouts: _KDDEBUGGER_DATA64 and _DBGKD_* are the debugger protocol's
 * (a debugger reads them by the documented layout, not through the PDB),
 * and _KUSER_SHARED_DATA is read by user-mode code compiled against it. So
 * they are laid out as Windows 10 19041 lays them out, in every build
 * (the reorder build moves the globals, not these layouts), and the
 * offsets tools rely on are asserted below.
 */
#ifndef MININT_KD_H
#define MININT_KD_H

#include "ntdef.h"

#define KI_USER_SHARED_DATA 0xFFFFF78000000000ull
#define MM_SHARED_USER_DATA_VA 0x000000007FFE0000ull
#define MM_SYSTEM_RANGE_START 0xFFFF800000000000ull

/* ---- enums the symbol classes of analysis tools look up --------------- */

typedef enum _MI_SYSTEM_VA_TYPE {
    MiVaUnused = 0,
    MiVaSessionSpace = 1,
    MiVaProcessSpace = 2,
    MiVaBootLoaded = 3,
    MiVaPfnDatabase = 4,
    MiVaNonPagedPool = 5,
    MiVaPagedPool = 6,
    MiVaSpecialPoolPaged = 7,
    MiVaSystemCache = 8,
    MiVaSystemPtes = 9,
    MiVaHal = 10,
    MiVaSessionGlobalSpace = 11,
    MiVaDriverImages = 12,
    MiVaSystemPtesLarge = 13,
    MiVaKernelStacks = 14,
    MiVaSecureNonPagedPool = 15,
    MiVaKernelShadowStacks = 16,
    MiVaMaximumType = 17,
} MI_SYSTEM_VA_TYPE;

typedef enum _NT_PRODUCT_TYPE { NtProductWinNt = 1, NtProductLanManNt = 2, NtProductServer = 3 } NT_PRODUCT_TYPE;

typedef enum _ALTERNATIVE_ARCHITECTURE_TYPE { StandardDesign = 0, NEC98x86 = 1, EndAlternatives = 2 } ALTERNATIVE_ARCHITECTURE_TYPE;

/* ---- the shared user data page ----------------------------------------- */

/* A 64-bit time two 32-bit readers can read without a lock: the writer
   stores High2Time, then LowPart, then High1Time; a reader retries while
   High1Time != High2Time. */
typedef struct _KSYSTEM_TIME {
    ULONG LowPart;
    LONG High1Time;
    LONG High2Time;
} KSYSTEM_TIME;

typedef struct _KUSER_SHARED_DATA {
    ULONG TickCountLowDeprecated;
    ULONG TickCountMultiplier;
    volatile KSYSTEM_TIME InterruptTime; /* 100 ns since boot */
    volatile KSYSTEM_TIME SystemTime;    /* 100 ns since 1601, UTC */
    volatile KSYSTEM_TIME TimeZoneBias;
    USHORT ImageNumberLow;
    USHORT ImageNumberHigh;
    WCHAR NtSystemRoot[260];
    ULONG MaxStackTraceDepth;
    ULONG CryptoExponent;
    ULONG TimeZoneId;
    ULONG LargePageMinimum;
    ULONG AitSamplingValue;
    ULONG AppCompatFlag;
    ULONG64 RNGSeedVersion;
    ULONG GlobalValidationRunlevel;
    LONG TimeZoneBiasStamp;
    ULONG NtBuildNumber;
    NT_PRODUCT_TYPE NtProductType;
    BOOLEAN ProductTypeIsValid;
    BOOLEAN Reserved0[1];
    USHORT NativeProcessorArchitecture;
    ULONG NtMajorVersion;
    ULONG NtMinorVersion;
    BOOLEAN ProcessorFeatures[64];
    ULONG Reserved1;
    ULONG Reserved3;
    volatile ULONG TimeSlip;
    ALTERNATIVE_ARCHITECTURE_TYPE AlternativeArchitecture;
    ULONG BootId;
    LARGE_INTEGER SystemExpirationDate;
    ULONG SuiteMask;
    BOOLEAN KdDebuggerEnabled;
    UCHAR MitigationPolicies;
    USHORT CyclesPerYield;
    volatile ULONG ActiveConsoleId;
    volatile ULONG DismountCount;
    ULONG ComPlusPackage;
    ULONG LastSystemRITEventTickCount;
    ULONG NumberOfPhysicalPages;
    BOOLEAN SafeBootMode;
    UCHAR VirtualizationFlags;
    UCHAR Reserved12[2];
    ULONG SharedDataFlags;
    ULONG DataFlagsPad[1];
    ULONG64 TestRetInstruction;
    LONG64 QpcFrequency;
    ULONG SystemCall;
    ULONG Reserved2;
    ULONG64 SystemCallPad[2];
    union {
        volatile KSYSTEM_TIME TickCount;
        volatile ULONG64 TickCountQuad;
        struct {
            ULONG ReservedTickCountOverlay[3];
            ULONG TickCountPad[1];
        };
    };
    ULONG Cookie;
    ULONG CookiePad[1];
    LONG64 ConsoleSessionForegroundProcessId;
    ULONG64 TimeUpdateLock;
    ULONG64 BaselineSystemTimeQpc;
    ULONG64 BaselineInterruptTimeQpc;
    ULONG64 QpcSystemTimeIncrement;
    ULONG64 QpcInterruptTimeIncrement;
    UCHAR QpcSystemTimeIncrementShift;
    UCHAR QpcInterruptTimeIncrementShift;
    USHORT UnparkedProcessorCount;
    ULONG EnclaveFeatureMask[4];
    ULONG TelemetryCoverageRound;
    USHORT UserModeGlobalLogger[16];
    ULONG ImageFileExecutionOptions;
    ULONG LangGenerationCount;
    ULONG64 Reserved4;
    volatile ULONG64 InterruptTimeBias;
    volatile ULONG64 QpcBias;
    ULONG ActiveProcessorCount;
    volatile UCHAR ActiveGroupCount;
    UCHAR Reserved9;
    USHORT QpcData;
    LARGE_INTEGER TimeZoneBiasEffectiveStart;
    LARGE_INTEGER TimeZoneBiasEffectiveEnd;
} KUSER_SHARED_DATA;

_Static_assert(offsetof(KUSER_SHARED_DATA, InterruptTime) == 0x8, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, SystemTime) == 0x14, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, NtSystemRoot) == 0x30, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, NtBuildNumber) == 0x260, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, NtProductType) == 0x264, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, NtMajorVersion) == 0x26c, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, KdDebuggerEnabled) == 0x2d4, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, NumberOfPhysicalPages) == 0x2e8, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, TickCount) == 0x320, "Windows' layout");
_Static_assert(offsetof(KUSER_SHARED_DATA, ActiveProcessorCount) == 0x3c0, "Windows' layout");

/* ---- the debugger's blocks ---------------------------------------------- */

typedef struct _LIST_ENTRY64 {
    ULONG64 Flink;
    ULONG64 Blink;
} LIST_ENTRY64;

typedef struct _DBGKD_DEBUG_DATA_HEADER64 {
    LIST_ENTRY64 List; /* on KdpDebuggerDataListHead */
    ULONG OwnerTag;    /* 'KDBG' */
    ULONG Size;
} DBGKD_DEBUG_DATA_HEADER64;

#define KDBG_TAG 0x4742444Bu /* "KDBG" */

/* Every field but the header and the offsets/sizes/selectors holds the
   address of the kernel variable it names (KernBase: the image base). */
typedef struct _KDDEBUGGER_DATA64 {
    DBGKD_DEBUG_DATA_HEADER64 Header;
    ULONG64 KernBase;
    ULONG64 BreakpointWithStatus;
    ULONG64 SavedContext;
    USHORT ThCallbackStack;
    USHORT NextCallback;
    USHORT FramePointer;
    USHORT PaeEnabled : 1;
    USHORT Spare : 15;
    ULONG64 KiCallUserMode;
    ULONG64 KeUserCallbackDispatcher;
    ULONG64 PsLoadedModuleList;
    ULONG64 PsActiveProcessHead;
    ULONG64 PspCidTable;
    ULONG64 ExpSystemResourcesList;
    ULONG64 ExpPagedPoolDescriptor;
    ULONG64 ExpNumberOfPagedPools;
    ULONG64 KeTimeIncrement;
    ULONG64 KeBugCheckCallbackListHead;
    ULONG64 KiBugcheckData;
    ULONG64 IopErrorLogListHead;
    ULONG64 ObpRootDirectoryObject;
    ULONG64 ObpTypeObjectType;
    ULONG64 MmSystemCacheStart;
    ULONG64 MmSystemCacheEnd;
    ULONG64 MmSystemCacheWs;
    ULONG64 MmPfnDatabase;
    ULONG64 MmSystemPtesStart;
    ULONG64 MmSystemPtesEnd;
    ULONG64 MmSubsectionBase;
    ULONG64 MmNumberOfPagingFiles;
    ULONG64 MmLowestPhysicalPage;
    ULONG64 MmHighestPhysicalPage;
    ULONG64 MmNumberOfPhysicalPages;
    ULONG64 MmMaximumNonPagedPoolInBytes;
    ULONG64 MmNonPagedSystemStart;
    ULONG64 MmNonPagedPoolStart;
    ULONG64 MmNonPagedPoolEnd;
    ULONG64 MmPagedPoolStart;
    ULONG64 MmPagedPoolEnd;
    ULONG64 MmPagedPoolInformation;
    ULONG64 MmPageSize;
    ULONG64 MmSizeOfPagedPoolInBytes;
    ULONG64 MmTotalCommitLimit;
    ULONG64 MmTotalCommittedPages;
    ULONG64 MmSharedCommit;
    ULONG64 MmDriverCommit;
    ULONG64 MmProcessCommit;
    ULONG64 MmPagedPoolCommit;
    ULONG64 MmExtendedCommit;
    ULONG64 MmZeroedPageListHead;
    ULONG64 MmFreePageListHead;
    ULONG64 MmStandbyPageListHead;
    ULONG64 MmModifiedPageListHead;
    ULONG64 MmModifiedNoWritePageListHead;
    ULONG64 MmAvailablePages;
    ULONG64 MmResidentAvailablePages;
    ULONG64 PoolTrackTable;
    ULONG64 NonPagedPoolDescriptor;
    ULONG64 MmHighestUserAddress;
    ULONG64 MmSystemRangeStart;
    ULONG64 MmUserProbeAddress;
    ULONG64 KdPrintCircularBuffer;
    ULONG64 KdPrintCircularBufferEnd;
    ULONG64 KdPrintWritePointer;
    ULONG64 KdPrintRolloverCount;
    ULONG64 MmLoadedUserImageList;
    ULONG64 NtBuildLab;
    ULONG64 KiNormalSystemCall;
    ULONG64 KiProcessorBlock;
    ULONG64 MmUnloadedDrivers;
    ULONG64 MmLastUnloadedDriver;
    ULONG64 MmTriageActionTaken;
    ULONG64 MmSpecialPoolTag;
    ULONG64 KernelVerifier;
    ULONG64 MmVerifierData;
    ULONG64 MmAllocatedNonPagedPool;
    ULONG64 MmPeakCommitment;
    ULONG64 MmTotalCommitLimitMaximum;
    ULONG64 CmNtCSDVersion;
    ULONG64 MmPhysicalMemoryBlock;
    ULONG64 MmSessionBase;
    ULONG64 MmSessionSize;
    ULONG64 MmSystemParentTablePage;
    ULONG64 MmVirtualTranslationBase;
    USHORT OffsetKThreadNextProcessor;
    USHORT OffsetKThreadTeb;
    USHORT OffsetKThreadKernelStack;
    USHORT OffsetKThreadInitialStack;
    USHORT OffsetKThreadApcProcess;
    USHORT OffsetKThreadState;
    USHORT OffsetKThreadBStore;
    USHORT OffsetKThreadBStoreLimit;
    USHORT SizeEProcess;
    USHORT OffsetEprocessPeb;
    USHORT OffsetEprocessParentCID;
    USHORT OffsetEprocessDirectoryTableBase;
    USHORT SizePrcb;
    USHORT OffsetPrcbDpcRoutine;
    USHORT OffsetPrcbCurrentThread;
    USHORT OffsetPrcbMhz;
    USHORT OffsetPrcbCpuType;
    USHORT OffsetPrcbVendorString;
    USHORT OffsetPrcbProcStateContext;
    USHORT OffsetPrcbNumber;
    USHORT SizeEThread;
    UCHAR L1tfHighPhysicalBitIndex;
    UCHAR L1tfSwizzleBitIndex;
    ULONG Padding0;
    ULONG64 KdPrintCircularBufferPtr;
    ULONG64 KdPrintBufferSize;
    ULONG64 KeLoaderBlock;
    USHORT SizePcr;
    USHORT OffsetPcrSelfPcr;
    USHORT OffsetPcrCurrentPrcb;
    USHORT OffsetPcrContainedPrcb;
    USHORT OffsetPcrInitialBStore;
    USHORT OffsetPcrBStoreLimit;
    USHORT OffsetPcrInitialStack;
    USHORT OffsetPcrStackLimit;
    USHORT OffsetPrcbPcrPage;
    USHORT OffsetPrcbProcStateSpecialReg;
    USHORT GdtR0Code;
    USHORT GdtR0Data;
    USHORT GdtR0Pcr;
    USHORT GdtR3Code;
    USHORT GdtR3Data;
    USHORT GdtR3Teb;
    USHORT GdtLdt;
    USHORT GdtTss;
    USHORT Gdt64R3CmCode;
    USHORT Gdt64R3CmTeb;
    ULONG64 IopNumTriageDumpDataBlocks;
    ULONG64 IopTriageDumpDataBlocks;
    ULONG64 VfCrashDataBlock;
    ULONG64 MmBadPagesDetected;
    ULONG64 MmZeroedPageSingleBitErrorsDetected;
    ULONG64 EtwpDebuggerData;
    USHORT OffsetPrcbContext;
    USHORT OffsetPrcbMaxBreakpoints;
    USHORT OffsetPrcbMaxWatchpoints;
    ULONG OffsetKThreadStackLimit;
    ULONG OffsetKThreadStackBase;
    ULONG OffsetKThreadQueueListEntry;
    ULONG OffsetEThreadIrpList;
    USHORT OffsetPrcbIdleThread;
    USHORT OffsetPrcbNormalDpcState;
    USHORT OffsetPrcbDpcStack;
    USHORT OffsetPrcbIsrStack;
    USHORT SizeKDPC_STACK_FRAME;
    USHORT OffsetKPriQueueThreadListHead;
    USHORT OffsetKThreadWaitReason;
    USHORT Padding;
    ULONG64 PteBase;
    ULONG64 RetpolineStubFunctionTable;
    ULONG RetpolineStubFunctionTableSize;
    ULONG RetpolineStubOffset;
    ULONG RetpolineStubSize;
    USHORT OffsetEProcessMmHotPatchContext;
} KDDEBUGGER_DATA64;

_Static_assert(offsetof(KDDEBUGGER_DATA64, KernBase) == 0x18, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, PsLoadedModuleList) == 0x48, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, PsActiveProcessHead) == 0x50, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, MmPfnDatabase) == 0xc0, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, NtBuildLab) == 0x208, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, CmNtCSDVersion) == 0x268, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, SizeEThread) == 0x2c0, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, KeLoaderBlock) == 0x2d8, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, OffsetPrcbContext) == 0x338, "debugger protocol layout");
_Static_assert(offsetof(KDDEBUGGER_DATA64, PteBase) == 0x360, "debugger protocol layout");

typedef struct _DBGKD_GET_VERSION64 {
    USHORT MajorVersion; /* 0xF: a free (retail) build */
    USHORT MinorVersion; /* the build number */
    UCHAR ProtocolVersion;
    UCHAR KdSecondaryVersion;
    USHORT Flags; /* DBGKD_VERS_FLAG_* */
    USHORT MachineType;
    UCHAR MaxPacketType;
    UCHAR MaxStateChange;
    UCHAR MaxManipulate;
    UCHAR Simulation;
    USHORT Unused[1];
    ULONG64 KernBase;
    ULONG64 PsLoadedModuleList;
    ULONG64 DebuggerDataList; /* address of KdpDebuggerDataListHead */
} DBGKD_GET_VERSION64;

_Static_assert(offsetof(DBGKD_GET_VERSION64, KernBase) == 0x10, "debugger protocol layout");
_Static_assert(sizeof(DBGKD_GET_VERSION64) == 0x28, "debugger protocol layout");

#define DBGKD_VERS_FLAG_MP 0x0001
#define DBGKD_VERS_FLAG_DATA 0x0002
#define DBGKD_VERS_FLAG_PTR64 0x0004
#define IMAGE_FILE_MACHINE_AMD64 0x8664

/* mini-NT's version: the PTE layout is Windows 10 19041's. */
#define MININT_BUILD_NUMBER 19041

extern KDDEBUGGER_DATA64 KdDebuggerDataBlock;
extern DBGKD_GET_VERSION64 KdVersionBlock;
extern ULONG KeNumberProcessors;
extern ULONG KeTimeIncrement;
extern ULONG MmProtectToValue[32];

/* kd.c */
void KdInitSystem(LOADER_PARAMETER_BLOCK *lb);

/* svctable.c */
void KiInitializeServiceTable(void);

/* kuser.c */
void KiInitializeUserSharedData(LOADER_PARAMETER_BLOCK *lb);
void KiMapUserSharedData(ULONG64 pml4);
void KiUpdateSystemTime(void); /* each clock tick */
LONG64 KeQuerySystemTime(void);

/* selfmap.c */
extern ULONG64 MmPteBase, MmPdeBase, MmPpeBase, MmPxeBase;
extern ULONG MiSelfMapIndex;
void MiInitializeSelfMap(LOADER_PARAMETER_BLOCK *lb);
MMPTE MiMakeSelfMapEntry(ULONG64 pml4Pa);
MMPTE *MiSelfMapEntry(ULONG64 va, int level);

#endif
