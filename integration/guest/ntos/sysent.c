/*
 * The system service table KiSystemCall64 dispatches through, with each
 * service's count of stack arguments (those beyond the four in registers),
 * and the small services that belong to no other subsystem.
 */
#include "ke.h"
#include "ob.h"

NTSTATUS NtCreatePagingFile(PUNICODE_STRING, PLARGE_INTEGER, PLARGE_INTEGER, ULONG);
NTSTATUS NtCreateUserProcess(PHANDLE, PHANDLE, PUNICODE_STRING, PUNICODE_STRING);
NTSTATUS NtCreateFile(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK, PLARGE_INTEGER, ULONG, ULONG, ULONG,
                      ULONG, PVOID, ULONG);
NTSTATUS NtWriteFile(HANDLE, HANDLE, PVOID, PVOID, PIO_STATUS_BLOCK, PVOID, ULONG, PLARGE_INTEGER, PULONG);
NTSTATUS NtQueryValueKey(HANDLE, PUNICODE_STRING, ULONG, PVOID, ULONG, PULONG);
NTSTATUS NtTerminateProcess(HANDLE, NTSTATUS);
NTSTATUS NtAllocateVirtualMemory(HANDLE, PVOID *, ULONG64, SIZE_T *, ULONG, ULONG);
NTSTATUS NtFreeVirtualMemory(HANDLE, PVOID *, SIZE_T *, ULONG);
NTSTATUS NtCreateSection(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PLARGE_INTEGER, ULONG, ULONG, HANDLE);
NTSTATUS NtMapViewOfSection(HANDLE, HANDLE, PVOID *, ULONG64, SIZE_T, PLARGE_INTEGER, SIZE_T *, ULONG, ULONG, ULONG);
NTSTATUS NtQueryInformationProcess(HANDLE, ULONG, PVOID, ULONG, PULONG);
NTSTATUS NtCreateMutant(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, BOOLEAN);
/* netsock.c: mini-NT's own network services (issue 17) */
NTSTATUS NtFrostNetQueryInformation(PVOID, ULONG, PULONG);
NTSTATUS NtFrostNetPing(PVOID);
NTSTATUS NtFrostNetSendDatagrams(const PVOID, ULONG, PULONG);
NTSTATUS NtFrostNetReceiveDatagram(ULONG, PVOID, ULONG);
NTSTATUS NtFrostNetConnect(ULONG, ULONG, ULONG);
NTSTATUS NtFrostNetSend(PVOID, ULONG, PULONG);
NTSTATUS NtFrostNetReceive(PVOID, ULONG, PULONG, ULONG);
NTSTATUS NtFrostNetClose(ULONG);

#define SystemBalanceSetInformation 0xF0 /* mini-NT's own class */
typedef struct _SYSTEM_BALANCE_SET_INFORMATION {
    ULONG64 Passes;
    ULONG64 Settled;
} SYSTEM_BALANCE_SET_INFORMATION;

/* Windows' SystemExtendedHandleInformation (every handle in the system,
   which smss reports), and mini-NT's own balance set manager progress, which
   smss waits on. */
NTSTATUS NtQuerySystemInformation(ULONG SystemInformationClass, PVOID SystemInformation, ULONG Length,
                                  PULONG ReturnLength) {
    if (SystemInformationClass == SystemExtendedHandleInformation) {
        if (!MmProbeUserRange(SystemInformation, Length, TRUE) ||
            (ReturnLength && !MmProbeUserRange(ReturnLength, sizeof(ULONG), TRUE)))
            return STATUS_ACCESS_VIOLATION;
        ULONG required;
        NTSTATUS st = ExpQuerySystemHandleInformationEx(SystemInformation, Length, &required);
        if (ReturnLength) *ReturnLength = required;
        return st;
    }
    if (SystemInformationClass != SystemBalanceSetInformation) return STATUS_INVALID_PARAMETER;
    if (Length < sizeof(SYSTEM_BALANCE_SET_INFORMATION)) return STATUS_BUFFER_TOO_SMALL;
    if (!MmProbeUserRange(SystemInformation, sizeof(SYSTEM_BALANCE_SET_INFORMATION), TRUE) ||
        (ReturnLength && !MmProbeUserRange(ReturnLength, sizeof(ULONG), TRUE)))
        return STATUS_ACCESS_VIOLATION;
    SYSTEM_BALANCE_SET_INFORMATION *info = SystemInformation;
    info->Passes = MmBalancePasses;
    info->Settled = MmWorkloadSettled;
    if (ReturnLength) *ReturnLength = sizeof(*info);
    return STATUS_SUCCESS;
}

NTSTATUS NtDisplayString(PUNICODE_STRING String) {
    char buf[512];
    SIZE_T len;
    NTSTATUS st = ExCaptureUnicodeToAscii(String, buf, sizeof(buf), &len);
    if (!NT_SUCCESS(st)) return st;
    void KdWrite(const char *s, SIZE_T n);
    KdWrite(buf, len);
    return STATUS_SUCCESS;
}

/* Relative intervals only (negative, in 100 ns units), rounded up to the
   clock's tick; 0 yields. */
NTSTATUS NtDelayExecution(BOOLEAN Alertable, PLARGE_INTEGER DelayInterval) {
    (void)Alertable;
    if (!MmProbeUserRange(DelayInterval, sizeof(LARGE_INTEGER), FALSE)) return STATUS_ACCESS_VIOLATION;
    LONGLONG interval = DelayInterval->QuadPart;
    if (interval > 0) return STATUS_INVALID_PARAMETER;
    ULONG64 per_tick = 10000000ull / CLOCK_HZ;
    ULONG64 ticks = ((ULONG64)(-interval) + per_tick - 1) / per_tick;
    KeDelayExecutionThread(ticks);
    return STATUS_SUCCESS;
}

NTSTATUS NtCreateEvent(PHANDLE EventHandle, ACCESS_MASK DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                       ULONG EventType, BOOLEAN InitialState) {
    (void)ObjectAttributes;
    if (!MmProbeUserRange(EventHandle, sizeof(HANDLE), TRUE)) return STATUS_ACCESS_VIOLATION;
    if (EventType > 1) return STATUS_INVALID_PARAMETER;
    KEVENT *ev = ObCreateObject(ExEventObjectType, sizeof(KEVENT));
    ev->Header.Type = (UCHAR)EventType; /* NotificationEvent 0, SynchronizationEvent 1 */
    ev->Header.SignalState = InitialState;
    ev->Header.WaitListHead.Flink = ev->Header.WaitListHead.Blink = &ev->Header.WaitListHead;
    HANDLE h;
    NTSTATUS st = ObInsertObject(ev, DesiredAccess, &h);
    if (NT_SUCCESS(st)) *EventHandle = h;
    return st;
}

NTSTATUS NtClose(HANDLE Handle) { return ObCloseHandle(Handle); }

/* Called by KiSystemCall64 before it copies stack arguments. */
BOOLEAN KiProbeUserStackArguments(const void *p, ULONG64 count) {
    return count == 0 || MmProbeUserRange(p, count * 8, FALSE);
}

/* The numbering is mini-NT's own; user/ntdll.S uses the same. The
   routines and their stack-argument counts; KiInitializeServiceTable
   (svctable.c) encodes them into KiServiceTable as x64 Windows stores it. */
const ULONG64 KiServiceRoutines[] = {
    (ULONG64)NtDisplayString,     /* 0 */
    (ULONG64)NtDelayExecution,    /* 1 */
    (ULONG64)NtQueryValueKey,     /* 2 */
    (ULONG64)NtCreatePagingFile,  /* 3 */
    (ULONG64)NtCreateUserProcess, /* 4 */
    (ULONG64)NtCreateFile,        /* 5 */
    (ULONG64)NtWriteFile,         /* 6 */
    (ULONG64)NtCreateEvent,       /* 7 */
    (ULONG64)NtClose,             /* 8 */
    (ULONG64)NtTerminateProcess,  /* 9 */
    (ULONG64)NtAllocateVirtualMemory,  /* 10 */
    (ULONG64)NtFreeVirtualMemory,      /* 11 */
    (ULONG64)NtCreateSection,          /* 12 */
    (ULONG64)NtMapViewOfSection,       /* 13 */
    (ULONG64)NtQueryInformationProcess, /* 14 */
    (ULONG64)NtQuerySystemInformation, /* 15 */
    (ULONG64)NtCreateMutant,           /* 16 */
    (ULONG64)NtFrostNetQueryInformation, /* 17 */
    (ULONG64)NtFrostNetPing,             /* 18 */
    (ULONG64)NtFrostNetSendDatagrams,    /* 19 */
    (ULONG64)NtFrostNetReceiveDatagram,  /* 20 */
    (ULONG64)NtFrostNetConnect,          /* 21 */
    (ULONG64)NtFrostNetSend,             /* 22 */
    (ULONG64)NtFrostNetReceive,          /* 23 */
    (ULONG64)NtFrostNetClose,            /* 24 */
};
const UCHAR KiServiceArguments[] = {0, 0, 2, 0, 0, 7, 5, 1, 0, 0, 2, 0, 3, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
ULONG KiServiceLimit = sizeof(KiServiceRoutines) / sizeof(KiServiceRoutines[0]);
LONG KiServiceTable[sizeof(KiServiceRoutines) / sizeof(KiServiceRoutines[0])];
_Static_assert(sizeof(KiServiceArguments) == sizeof(KiServiceRoutines) / sizeof(KiServiceRoutines[0]),
               "one count per service");
