/*
 * System service stubs, shaped as Windows' ntdll: mov r10, rcx; mov eax, n;
 * syscall. The numbers index the kernel's KiServiceTable (ntos/sysent.c).
 */
    .intel_syntax noprefix
    .text

.macro STUB name, number
    .globl \name
    .def \name
    .scl 2
    .type 32
    .endef
\name:
    mov r10, rcx
    mov eax, \number
    syscall
    ret
.endm

    STUB NtDisplayString, 0
    STUB NtDelayExecution, 1
    STUB NtQueryValueKey, 2
    STUB NtCreatePagingFile, 3
    STUB NtCreateUserProcess, 4
    STUB NtCreateFile, 5
    STUB NtWriteFile, 6
    STUB NtCreateEvent, 7
    STUB NtClose, 8
    STUB NtTerminateProcess, 9
    STUB NtAllocateVirtualMemory, 10
    STUB NtFreeVirtualMemory, 11
    STUB NtCreateSection, 12
    STUB NtMapViewOfSection, 13
    STUB NtQueryInformationProcess, 14
    STUB NtQuerySystemInformation, 15
    STUB NtCreateMutant, 16
    STUB NtFrostNetQueryInformation, 17
    STUB NtFrostNetPing, 18
    STUB NtFrostNetSendDatagrams, 19
    STUB NtFrostNetReceiveDatagram, 20
    STUB NtFrostNetConnect, 21
    STUB NtFrostNetSend, 22
    STUB NtFrostNetReceive, 23
    STUB NtFrostNetClose, 24
