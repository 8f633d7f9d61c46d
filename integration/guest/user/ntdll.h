/*
 * The user-mode side of mini-NT's system services: prototypes for what
 * ntdll.dll exports (the stubs in ntdll.S and the runtime in crt.c) and
 * for frostrt.dll. Programs import both from their DLLs.
 */
#ifndef MININT_NTDLL_H
#define MININT_NTDLL_H

typedef unsigned char UCHAR, BOOLEAN;
typedef unsigned short USHORT;
typedef unsigned long ULONG, *PULONG, ACCESS_MASK;
typedef long LONG, NTSTATUS;
typedef unsigned long long ULONG64, SIZE_T;
typedef long long LONGLONG;
typedef unsigned short WCHAR, *PWSTR;
typedef void *PVOID, *HANDLE, **PHANDLE;

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

typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES;

typedef struct _IO_STATUS_BLOCK {
    union {
        NTSTATUS Status;
        PVOID Pointer;
    };
    ULONG64 Information;
} IO_STATUS_BLOCK;

typedef struct _KEY_VALUE_PARTIAL_INFORMATION {
    ULONG TitleIndex;
    ULONG Type;
    ULONG DataLength;
    UCHAR Data[1];
} KEY_VALUE_PARTIAL_INFORMATION;

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)
#define FILE_APPEND_DATA 0x0004
#define SYNCHRONIZE 0x00100000
#define FILE_OPEN_IF 3
#define FILE_SYNCHRONOUS_IO_NONALERT 0x20
#define FILE_NON_DIRECTORY_FILE 0x40
#define OBJ_CASE_INSENSITIVE 0x40

NTSTATUS NtDisplayString(PUNICODE_STRING String);
NTSTATUS NtDelayExecution(BOOLEAN Alertable, PLARGE_INTEGER DelayInterval);
NTSTATUS NtQueryValueKey(HANDLE KeyHandle, PUNICODE_STRING ValueName, ULONG KeyValueInformationClass,
                         PVOID KeyValueInformation, ULONG Length, PULONG ResultLength);
NTSTATUS NtCreatePagingFile(PUNICODE_STRING PageFileName, PLARGE_INTEGER MinimumSize, PLARGE_INTEGER MaximumSize,
                            ULONG Priority);
/* ImagePathName is the image's NT path; CommandLine (NULL: the image's
   path) goes into the new process's parameters, with the caller's
   environment and current directory. */
NTSTATUS NtCreateUserProcess(PHANDLE ProcessHandle, PHANDLE ThreadHandle, PUNICODE_STRING ImagePathName,
                             PUNICODE_STRING CommandLine);
NTSTATUS NtCreateFile(PHANDLE FileHandle, ACCESS_MASK DesiredAccess, OBJECT_ATTRIBUTES *ObjectAttributes,
                      IO_STATUS_BLOCK *IoStatusBlock, PLARGE_INTEGER AllocationSize, ULONG FileAttributes,
                      ULONG ShareAccess, ULONG CreateDisposition, ULONG CreateOptions, PVOID EaBuffer, ULONG EaLength);
NTSTATUS NtWriteFile(HANDLE FileHandle, HANDLE Event, PVOID ApcRoutine, PVOID ApcContext,
                     IO_STATUS_BLOCK *IoStatusBlock, PVOID Buffer, ULONG Length, PLARGE_INTEGER ByteOffset,
                     PULONG Key);
NTSTATUS NtCreateEvent(PHANDLE EventHandle, ACCESS_MASK DesiredAccess, OBJECT_ATTRIBUTES *ObjectAttributes,
                       ULONG EventType, BOOLEAN InitialState);
NTSTATUS NtClose(HANDLE Handle);
NTSTATUS NtCreateMutant(PHANDLE MutantHandle, ACCESS_MASK DesiredAccess, OBJECT_ATTRIBUTES *ObjectAttributes,
                        BOOLEAN InitialOwner);
NTSTATUS NtTerminateProcess(HANDLE ProcessHandle, NTSTATUS ExitStatus);
NTSTATUS NtAllocateVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, ULONG64 ZeroBits, SIZE_T *RegionSize,
                                 ULONG AllocationType, ULONG Protect);
NTSTATUS NtFreeVirtualMemory(HANDLE ProcessHandle, PVOID *BaseAddress, SIZE_T *RegionSize, ULONG FreeType);
NTSTATUS NtCreateSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, OBJECT_ATTRIBUTES *ObjectAttributes,
                         PLARGE_INTEGER MaximumSize, ULONG SectionPageProtection, ULONG AllocationAttributes,
                         HANDLE FileHandle);
NTSTATUS NtMapViewOfSection(HANDLE SectionHandle, HANDLE ProcessHandle, PVOID *BaseAddress, ULONG64 ZeroBits,
                            SIZE_T CommitSize, PLARGE_INTEGER SectionOffset, SIZE_T *ViewSize,
                            ULONG InheritDisposition, ULONG AllocationType, ULONG Win32Protect);
NTSTATUS NtQueryInformationProcess(HANDLE ProcessHandle, ULONG ProcessInformationClass, PVOID ProcessInformation,
                                   ULONG ProcessInformationLength, PULONG ReturnLength);
NTSTATUS NtQuerySystemInformation(ULONG SystemInformationClass, PVOID SystemInformation, ULONG Length,
                                  PULONG ReturnLength);

/* mini-NT's network services (include/frostnet.h, ntos/netsock.c). */
#include "../include/frostnet.h"
NTSTATUS NtFrostNetQueryInformation(PVOID Information, ULONG Length, PULONG ReturnLength);
NTSTATUS NtFrostNetPing(FROST_NET_PING *Ping);
NTSTATUS NtFrostNetSendDatagrams(const FROST_NET_DATAGRAM *Datagrams, ULONG Count, PULONG Sent);
NTSTATUS NtFrostNetReceiveDatagram(ULONG LocalPort, FROST_NET_DATAGRAM *Datagram, ULONG TimeoutMs);
NTSTATUS NtFrostNetConnect(ULONG Address, ULONG Port, ULONG TimeoutMs);
NTSTATUS NtFrostNetSend(PVOID Data, ULONG Length, PULONG Sent);
NTSTATUS NtFrostNetReceive(PVOID Buffer, ULONG Length, PULONG Received, ULONG TimeoutMs);
NTSTATUS NtFrostNetClose(ULONG TimeoutMs);

typedef struct _PROCESS_BASIC_INFORMATION {
    NTSTATUS ExitStatus;
    PVOID PebBaseAddress;
    ULONG64 AffinityMask;
    LONG BasePriority;
    ULONG64 UniqueProcessId;
    ULONG64 InheritedFromUniqueProcessId;
} PROCESS_BASIC_INFORMATION;

#define MEM_COMMIT 0x1000
#define MEM_RESERVE 0x2000
#define MEM_DECOMMIT 0x4000
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_EXECUTE_READ 0x20
#define SEC_IMAGE 0x01000000
#define FILE_READ_DATA 0x0001
#define FILE_OPEN 1
#define SystemBalanceSetInformation 0xF0
#define SystemExtendedHandleInformation 64
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004)

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

/* crt.c (in ntdll.dll) */
void *memset(void *d, int c, SIZE_T n);
void *memcpy(void *d, const void *s, SIZE_T n);
SIZE_T strlen(const char *s);
/* Points us at a wide copy of s in buf (cap WCHARs). */
void RtlInitUnicodeFromAscii(UNICODE_STRING *us, WCHAR *buf, SIZE_T cap, const char *s);
/* snprintf: formats into buf, returns the length. */
ULONG RtlFormat(char *buf, ULONG cap, const char *fmt, ...);
/* Formats a line and hands it to NtDisplayString. */
void DbgPrint(const char *fmt, ...);
void Sleep(ULONG milliseconds);
__attribute__((noreturn)) void RtlExitUserProcess(NTSTATUS status);

/* The thread's TEB starts with the NT_TIB, whose Self the user GS base
   points through (as on Windows). */
typedef struct _NT_TIB {
    PVOID ExceptionList;
    PVOID StackBase;
    PVOID StackLimit;
    PVOID SubSystemTib;
    PVOID FiberData;
    PVOID ArbitraryUserPointer;
    struct _NT_TIB *Self;
} NT_TIB;

static inline NT_TIB *NtCurrentTib(void) {
    NT_TIB *tib;
    __asm__("mov %%gs:%c1, %0" : "=r"(tib) : "i"(__builtin_offsetof(NT_TIB, Self)));
    return tib;
}

/* The call-stack record (include/stacktrace.h): each function on a
   reported path appends its own return address when the thread's TEB
   points at a record. */
#include "../include/stacktrace.h"

static inline void FrostStackRecord(PVOID returnAddress) {
    FROST_USER_STACK *s = NtCurrentTib()->ArbitraryUserPointer;
    if (s && s->Tag == FROST_STACK_TAG && s->Depth < FROST_STACK_MAX) s->Frames[s->Depth++] = (ULONG64)returnAddress;
}

/* frostrt.dll */
NTSTATUS FrostWriteMessage(PVOID write, HANDLE file, IO_STATUS_BLOCK *iosb, ULONG count);
NTSTATUS FrostIssueWrite(PVOID write, HANDLE file, IO_STATUS_BLOCK *iosb, const char *msg, ULONG len);
ULONG64 FrostSumPages(ULONG64 base, ULONG64 pages, ULONG64 pageSize);

#endif
