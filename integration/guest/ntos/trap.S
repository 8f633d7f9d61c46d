/*
 * mini-NT's assembly: interrupt and exception entry, the system call entry
 * KiSystemCall64, thread start-up and the context switch. Structure offsets
 * come from ksamd64.h, generated from the C definitions.
 */
#include "ksamd64.h"

    .intel_syntax noprefix

.macro FUNC name
    .globl \name
    .def \name
    .scl 2
    .type 32
    .endef
\name:
.endm

    .text

/* Pushes the general registers in KTRAP_FRAME order (R15 lowest). */
.macro SAVE_GPRS
    push rax
    push rcx
    push rdx
    push r8
    push r9
    push r10
    push r11
    push rsi
    push rdi
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
.endm

.macro RESTORE_GPRS
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    pop rdi
    pop rsi
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdx
    pop rcx
    pop rax
.endm

/* Every vector lands here with [vector][error code] pushed above the
   hardware frame. */
KiCommonTrap:
    SAVE_GPRS
    test byte ptr [rsp + TfSegCs], 3
    jz 1f
    swapgs
1:  mov rbx, rsp
    mov rcx, rsp
    and rsp, -16
    sub rsp, 0x20
    call KiDispatchTrap
    mov rsp, rbx
    test byte ptr [rsp + TfSegCs], 3
    jz 2f
    swapgs
2:  RESTORE_GPRS
    add rsp, 16
    iretq

.macro TRAP_NOERR name, vector
FUNC \name
    push 0
    push \vector
    jmp KiCommonTrap
.endm

.macro TRAP_ERR name, vector
FUNC \name
    push \vector
    jmp KiCommonTrap
.endm

    TRAP_NOERR KiDivideErrorFault, 0
    TRAP_NOERR KiDebugTrapOrFault, 1
    TRAP_NOERR KiNmiInterrupt, 2
    TRAP_NOERR KiBreakpointTrap, 3
    TRAP_NOERR KiOverflowTrap, 4
    TRAP_NOERR KiBoundFault, 5
    TRAP_NOERR KiInvalidOpcodeFault, 6
    TRAP_NOERR KiNpxNotAvailableFault, 7
    TRAP_ERR   KiDoubleFaultAbort, 8
    TRAP_NOERR KiNpxSegmentOverrunAbort, 9
    TRAP_ERR   KiInvalidTssFault, 10
    TRAP_ERR   KiSegmentNotPresentFault, 11
    TRAP_ERR   KiStackFault, 12
    TRAP_ERR   KiGeneralProtectionFault, 13
    TRAP_ERR   KiPageFault, 14
    TRAP_NOERR KiFloatingErrorFault, 16
    TRAP_ERR   KiAlignmentFault, 17
    TRAP_NOERR KiMcheckAbort, 18
    TRAP_NOERR KiXmmException, 19
    TRAP_NOERR KiClockInterrupt, 0x30
    TRAP_NOERR KiUnexpectedInterrupt, 0xff

/*
 * The system call entry (LSTAR). User stubs do mov r10, rcx; mov eax, n;
 * syscall. Like Windows', it swaps to the kernel GS, switches to the
 * thread's kernel stack, builds a trap frame, copies arguments 5 and up
 * from the user stack into the callee's frame and calls the service with
 * rcx = r10, so at the service's first instruction argument n >= 5 is at
 * [rsp+8n].
 */
FUNC KiSystemCall64
    swapgs
    mov gs:[PcUserRsp], rsp
    mov rsp, gs:[PcRspBase]
    push KGDT64_R3_DATA_RPL
    push qword ptr gs:[PcUserRsp]
    push r11
    push KGDT64_R3_CODE_RPL
    push rcx
    push 0
    push 0x2e
    SAVE_GPRS
    mov rbx, rsp
    mov r11, gs:[PcCurrentThread]
    mov [r11 + ThTrapFrame], rbx
    mov eax, eax
    cmp eax, dword ptr [rip + KiServiceLimit]
    jae KiInvalidService
    /* KiServiceTable entry: (routine - table) << 4 | stack arguments. */
    lea r11, [rip + KiServiceTable]
    mov ecx, dword ptr [r11 + rax*4]
    and ecx, 15
    lea r11, [rcx*8 + 0x20 + 15]
    and r11, -16
    sub rsp, r11
    mov rsi, [rbx + TfRsp]
    add rsi, 0x28
    /* The copied range must lie in user space, or the call fails. */
    lea r11, [rsi + rcx*8]
    mov rdx, MmUserProbeAddress
    cmp r11, rdx
    ja KiSystemServiceAccessViolation
    cmp rsi, r11
    ja KiSystemServiceAccessViolation
    mov rdx, rcx
    push rax
    push rsi
    mov rcx, rsi
    sub rsp, 0x20
    call KiProbeUserStackArguments
    add rsp, 0x20
    mov r11, rax
    pop rsi
    pop rax
    test r11, r11
    jz KiSystemServiceAccessViolation
    lea rdi, [rsp + 0x20]
    lea r11, [rip + KiServiceTable]
    mov ecx, dword ptr [r11 + rax*4]
    and ecx, 15
    cld
    rep movsq
    mov rcx, [rbx + TfR10]
    mov rdx, [rbx + TfRdx]
    mov r8, [rbx + TfR8]
    mov r9, [rbx + TfR9]
    lea r11, [rip + KiServiceTable]
    movsxd r10, dword ptr [r11 + rax*4]
    sar r10, 4
    add r10, r11
    call r10
KiSystemServiceExit:
    mov [rbx + TfRax], rax
    mov rsp, rbx
    cli
    RESTORE_GPRS
    mov rcx, [rsp + 0x10]   /* Rip */
    mov r11, [rsp + 0x20]   /* EFlags */
    mov rsp, [rsp + 0x28]   /* Rsp */
    swapgs
    sysretq

KiInvalidService:
    mov eax, 0xC000001C     /* STATUS_INVALID_SYSTEM_SERVICE */
    jmp KiSystemServiceExit
KiSystemServiceAccessViolation:
    mov eax, 0xC0000005     /* STATUS_ACCESS_VIOLATION */
    jmp KiSystemServiceExit

/* void KiSwapContext(PVOID *oldKernelStack, PVOID newKernelStack) */
FUNC KiSwapContext
    push rbx
    push rbp
    push rdi
    push rsi
    push r12
    push r13
    push r14
    push r15
    mov [rcx], rsp
    mov rsp, rdx
    pop r15
    pop r14
    pop r13
    pop r12
    pop rsi
    pop rdi
    pop rbp
    pop rbx
    ret

/* A new thread's first return from KiSwapContext lands here, with the start
   routine in r12 and its context in r13 (see PspCreateThread). */
FUNC KiThreadStartup
    and rsp, -16
    sub rsp, 0x20
    mov rcx, r13
    call r12
    call KiTerminateCurrentThread
3:  hlt
    jmp 3b

/* void KiStartUserThread(rip, rsp, arg): the first entry to ring 3. */
FUNC KiStartUserThread
    cli
    push KGDT64_R3_DATA_RPL
    push rdx
    push 0x202
    push KGDT64_R3_CODE_RPL
    push rcx
    mov rcx, r8
    xor eax, eax
    xor edx, edx
    xor ebx, ebx
    xor ebp, ebp
    xor esi, esi
    xor edi, edi
    xor r8d, r8d
    xor r9d, r9d
    xor r10d, r10d
    xor r11d, r11d
    xor r12d, r12d
    xor r13d, r13d
    xor r14d, r14d
    xor r15d, r15d
    swapgs
    iretq

/* void KiLoadDescriptorTables(gdtr, idtr, tss selector) */
FUNC KiLoadDescriptorTables
    lgdt [rcx]
    lidt [rdx]
    ltr r8w
    mov ax, 0x18
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    /* Reload CS through a far return. */
    pop rax
    push 0x10
    push rax
    retfq
