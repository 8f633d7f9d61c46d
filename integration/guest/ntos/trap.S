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
 *
 * Its unwind data (.pdata/.xdata) describes the trap frame as Windows'
 * does, so a debugger unwinds from any service into user mode: a machine
 * frame with an error-code slot (UWOP_PUSH_MACHFRAME 1: RIP = [RSP+8],
 * RSP = [RSP+32] give the user RIP after the syscall and the user RSP),
 * the vector slot and the volatile registers as stack allocations, the
 * nonvolatile registers as pushes, and rbx as the frame register
 * (UWOP_SET_FPREG, offset 0): rbx holds the trap frame's address for the
 * whole body, while rsp moves by the size of the copied arguments. Each
 * code is at the offset of the instruction it describes, so inside the
 * prologue an unwinder applies only what is already done. Before the stack
 * switch no code applies and the leaf rule (RIP = [RSP]) reads the user
 * stack: the return address of the ntdll stub, whose own RIP is only in
 * rcx. Between the switch and the error-code push the kernel stack holds
 * part of a frame that no code can describe; Windows' entry has the same
 * window. From the end of the prologue to the last instruction covered
 * (the restore of rbx), rbx is the trap frame and the description is exact.
 * swapgs and sysretq lie outside the function's range: there rsp is the
 * user stack again and the leaf rule gives the stub's return address.
 */
FUNC KiSystemCall64
    .seh_proc KiSystemCall64
    swapgs
    mov gs:[PcUserRsp], rsp
    mov rsp, gs:[PcRspBase]
    push KGDT64_R3_DATA_RPL
    push qword ptr gs:[PcUserRsp]
    push r11
    push KGDT64_R3_CODE_RPL
    push rcx
    push 0                  /* ErrorCode */
    .seh_pushframe @code
    push 0x2e               /* Vector */
    .seh_stackalloc 8
    /* SAVE_GPRS, each push described: the volatile registers (rcx and
       r11 hold the user RIP and RFLAGS here) as stack space, the
       nonvolatile ones as pushes an unwinder restores. */
    push rax
    .seh_stackalloc 8
    push rcx
    .seh_stackalloc 8
    push rdx
    .seh_stackalloc 8
    push r8
    .seh_stackalloc 8
    push r9
    .seh_stackalloc 8
    push r10
    .seh_stackalloc 8
    push r11
    .seh_stackalloc 8
    push rsi
    .seh_pushreg rsi
    push rdi
    .seh_pushreg rdi
    push rbx
    .seh_pushreg rbx
    push rbp
    .seh_pushreg rbp
    push r12
    .seh_pushreg r12
    push r13
    .seh_pushreg r13
    push r14
    .seh_pushreg r14
    push r15
    .seh_pushreg r15
    mov rbx, rsp
    .seh_setframe rbx, 0
    .seh_endprologue
    mov r11, gs:[PcCurrentThread]
    mov [r11 + ThTrapFrame], rbx
    mov eax, eax
    cmp eax, dword ptr [rip + KiServiceLimit]
    jb 1f
    mov eax, 0xC000001C     /* STATUS_INVALID_SYSTEM_SERVICE */
    jmp KiSystemServiceExit
KiSystemServiceAccessViolation:
    mov eax, 0xC0000005     /* STATUS_ACCESS_VIOLATION */
    jmp KiSystemServiceExit
    /* KiServiceTable entry: (routine - table) << 4 | stack arguments. */
1:  lea r11, [rip + KiServiceTable]
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
    /* Every service returns here; an unwinder sees this address as the
       service's return address. The registers come back from the trap
       frame through rbx, which stays the frame register until the last
       load, so the unwind data above holds at every instruction. */
KiSystemServiceExit:
    mov [rbx + TfRax], rax
    cli
    mov r15, [rbx + TfR15]
    mov r14, [rbx + TfR14]
    mov r13, [rbx + TfR13]
    mov r12, [rbx + TfR12]
    mov rbp, [rbx + TfRbp]
    mov rdi, [rbx + TfRdi]
    mov rsi, [rbx + TfRsi]
    mov r10, [rbx + TfR10]
    mov r9, [rbx + TfR9]
    mov r8, [rbx + TfR8]
    mov rdx, [rbx + TfRdx]
    mov rax, [rbx + TfRax]
    mov rcx, [rbx + TfRip]
    mov r11, [rbx + TfEFlags]
    mov rsp, [rbx + TfRsp]
    mov rbx, [rbx + TfRbx]
    .seh_endproc
KiSystemServiceReturn:
    swapgs
    sysretq

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
