/*
 * The user-mode process environment: the PEB with its loader data and
 * process parameters, and the TEB. The kernel builds all of it when it
 * creates a process (ldr.c): mini-NT has no user-mode loader, so the work
 * of ntdll's LdrpInitializeProcess (mapping the imported DLLs, snapping the
 * exe's imports, the three module lists) happens at process creation.
 *
 * Names are Windows' own; offsets are the compiler's. Every structure a
 * debugger reads is REORDERed in the reorder build, except _NT_TIB: its
 * layout is an ABI (NtCurrentTeb() is gs:[0x30], NtTib.Self), as fixed as
 * the _MMPTE bits.
 */
#ifndef MININT_PEB_H
#define MININT_PEB_H

/* The thread state Initialized (ntdef.h) is a macro; the field is Windows'. */
#pragma push_macro("Initialized")
#undef Initialized
typedef struct _PEB_LDR_DATA {
    REORDER(
    ULONG Length;
    BOOLEAN Initialized;
    PVOID SsHandle;
    LIST_ENTRY InLoadOrderModuleList;
    , /* the second half */
    LIST_ENTRY InMemoryOrderModuleList;
    LIST_ENTRY InInitializationOrderModuleList;
    PVOID EntryInProgress;
    BOOLEAN ShutdownInProgress;
    HANDLE ShutdownThreadId;)
} PEB_LDR_DATA, *PPEB_LDR_DATA;
#pragma pop_macro("Initialized")

typedef struct _LDR_DATA_TABLE_ENTRY {
    REORDER(
    LIST_ENTRY InLoadOrderLinks;
    LIST_ENTRY InMemoryOrderLinks;
    LIST_ENTRY InInitializationOrderLinks;
    PVOID DllBase;
    PVOID EntryPoint;
    ULONG SizeOfImage;
    UNICODE_STRING FullDllName;
    , /* the second half */
    UNICODE_STRING BaseDllName;
    ULONG Flags;
    USHORT ObsoleteLoadCount;
    USHORT TlsIndex;
    LIST_ENTRY HashLinks;
    ULONG TimeDateStamp;
    PVOID EntryPointActivationContext;
    PVOID Lock;
    ULONG64 OriginalBase;
    LARGE_INTEGER LoadTime;
    ULONG BaseNameHashValue;
    ULONG LoadReason;
    ULONG ReferenceCount;)
} LDR_DATA_TABLE_ENTRY, *PLDR_DATA_TABLE_ENTRY;

/* LoadReason values, as Windows' LDR_DLL_LOAD_REASON. */
#define LoadReasonStaticDependency 0
#define LoadReasonDynamicLoad 4
/* LDR_DATA_TABLE_ENTRY.Flags bits, as Windows' FlagGroup. */
#define LDRP_IMAGE_DLL 0x00000004
#define LDRP_ENTRY_PROCESSED 0x00004000
#define LDRP_PROCESS_ATTACH_CALLED 0x00080000

typedef struct _CURDIR {
    UNICODE_STRING DosPath;
    HANDLE Handle;
} CURDIR;

typedef struct _RTL_USER_PROCESS_PARAMETERS {
    REORDER(
    ULONG MaximumLength;
    ULONG Length;
    ULONG Flags;
    ULONG DebugFlags;
    HANDLE ConsoleHandle;
    ULONG ConsoleFlags;
    HANDLE StandardInput;
    HANDLE StandardOutput;
    HANDLE StandardError;
    CURDIR CurrentDirectory;
    UNICODE_STRING DllPath;
    , /* the second half */
    UNICODE_STRING ImagePathName;
    UNICODE_STRING CommandLine;
    PVOID Environment;
    ULONG StartingX;
    ULONG StartingY;
    ULONG WindowFlags;
    ULONG ShowWindowFlags;
    UNICODE_STRING WindowTitle;
    UNICODE_STRING DesktopInfo;
    UNICODE_STRING ShellInfo;
    UNICODE_STRING RuntimeData;
    ULONG64 EnvironmentSize;
    ULONG64 EnvironmentVersion;)
} RTL_USER_PROCESS_PARAMETERS, *PRTL_USER_PROCESS_PARAMETERS;

/* Parameters whose pointers are absolute (not offsets from the block). */
#define RTL_USER_PROC_PARAMS_NORMALIZED 0x00000001

typedef struct _PEB {
    REORDER(
    BOOLEAN InheritedAddressSpace;
    BOOLEAN ReadImageFileExecOptions;
    BOOLEAN BeingDebugged;
    UCHAR BitField;
    PVOID Mutant;
    PVOID ImageBaseAddress;
    PEB_LDR_DATA *Ldr;
    RTL_USER_PROCESS_PARAMETERS *ProcessParameters;
    , /* the second half */
    PVOID SubSystemData;
    PVOID ProcessHeap;
    ULONG NumberOfProcessors;
    ULONG NtGlobalFlag;
    ULONG OSMajorVersion;
    ULONG OSMinorVersion;
    USHORT OSBuildNumber;
    USHORT OSCSDVersion;
    ULONG OSPlatformId;
    ULONG ImageSubsystem;
    ULONG ImageSubsystemMajorVersion;
    ULONG ImageSubsystemMinorVersion;
    ULONG SessionId;)
} PEB, *PPEB;

/* Never reordered: see the top of this file. */
typedef struct _NT_TIB {
    PVOID ExceptionList;
    PVOID StackBase;
    PVOID StackLimit;
    PVOID SubSystemTib;
    PVOID FiberData;
    PVOID ArbitraryUserPointer;
    struct _NT_TIB *Self;
} NT_TIB;

typedef struct _TEB {
    NT_TIB NtTib;
    REORDER(
    PVOID EnvironmentPointer;
    CLIENT_ID ClientId;
    PVOID ActiveRpcHandle;
    PVOID ThreadLocalStoragePointer;
    , /* the second half */
    PEB *ProcessEnvironmentBlock;
    ULONG LastErrorValue;
    ULONG CountOfOwnedCriticalSections;
    PVOID CsrClientThread;
    PVOID Win32ThreadInfo;
    ULONG CurrentLocale;
    ULONG FpSoftwareStatusRegister;
    LONG ExceptionCode;
    PVOID DeallocationStack;)
} TEB, *PTEB;

#endif
