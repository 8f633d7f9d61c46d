/*
 * The processor: descriptor tables, the PCR, the system call MSRs, the clock
 * and trap dispatch.
 */
#include "ke.h"

KPCR KiInitialPcr;
static KGDTENTRY64 KiGdt[10] __attribute__((aligned(16)));
static KIDTENTRY64 KiIdt[256] __attribute__((aligned(16)));
static KTSS64 KiTss;
static UCHAR KiDoubleFaultStack[0x2000] __attribute__((aligned(16)));

volatile ULONG64 KeTickCount;

#define MSR_EFER 0xC0000080
#define MSR_STAR 0xC0000081
#define MSR_LSTAR 0xC0000082
#define MSR_FMASK 0xC0000084
#define MSR_GS_BASE 0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102

#define PIC1 0x20
#define PIC2 0xA0
#define PIT_HZ 1193182
#define CLOCK_VECTOR 0x30

/* Handlers from trap.S. */
void KiDivideErrorFault(void), KiDebugTrapOrFault(void), KiNmiInterrupt(void), KiBreakpointTrap(void),
    KiOverflowTrap(void), KiBoundFault(void), KiInvalidOpcodeFault(void), KiNpxNotAvailableFault(void),
    KiDoubleFaultAbort(void), KiNpxSegmentOverrunAbort(void), KiInvalidTssFault(void),
    KiSegmentNotPresentFault(void), KiStackFault(void), KiGeneralProtectionFault(void), KiPageFault(void),
    KiFloatingErrorFault(void), KiAlignmentFault(void), KiMcheckAbort(void), KiXmmException(void),
    KiClockInterrupt(void), KiUnexpectedInterrupt(void);

static void KiSetIdtEntry(int vector, void (*handler)(void), int dpl, int ist) {
    ULONG64 a = (ULONG64)handler;
    KIDTENTRY64 *e = &KiIdt[vector];
    e->OffsetLow = (USHORT)a;
    e->OffsetMiddle = (USHORT)(a >> 16);
    e->OffsetHigh = (ULONG)(a >> 32);
    e->Selector = KGDT64_R0_CODE;
    e->IstIndex = ist;
    e->Type = 0xE; /* interrupt gate: IF is clear in every handler */
    e->Dpl = dpl;
    e->Present = 1;
}

void KiInitializeProcessor(void) {
    /* GDT, in Windows' selector order. */
    KiGdt[KGDT64_R0_CODE / 8].Value = 0x00209A0000000000ull;
    KiGdt[KGDT64_R0_DATA / 8].Value = 0x0000920000000000ull;
    KiGdt[KGDT64_R3_CMCODE / 8].Value = 0x00CFFA000000FFFFull;
    KiGdt[KGDT64_R3_DATA / 8].Value = 0x00CFF2000000FFFFull;
    KiGdt[KGDT64_R3_CODE / 8].Value = 0x0020FA0000000000ull;
    ULONG64 tss = (ULONG64)&KiTss, limit = sizeof(KiTss) - 1;
    KiGdt[KGDT64_SYS_TSS / 8].Value = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (0x89ull << 40) |
                                      (((limit >> 16) & 0xf) << 48) | (((tss >> 24) & 0xff) << 56);
    KiGdt[KGDT64_SYS_TSS / 8 + 1].Value = tss >> 32;
    KiTss.Ist[1] = (ULONG64)(KiDoubleFaultStack + sizeof(KiDoubleFaultStack));
    KiTss.IoMapBase = sizeof(KiTss);

    void (*traps[20])(void) = {KiDivideErrorFault,     KiDebugTrapOrFault,    KiNmiInterrupt,
                               KiBreakpointTrap,       KiOverflowTrap,        KiBoundFault,
                               KiInvalidOpcodeFault,   KiNpxNotAvailableFault, KiDoubleFaultAbort,
                               KiNpxSegmentOverrunAbort, KiInvalidTssFault,   KiSegmentNotPresentFault,
                               KiStackFault,           KiGeneralProtectionFault, KiPageFault,
                               KiUnexpectedInterrupt,  KiFloatingErrorFault,  KiAlignmentFault,
                               KiMcheckAbort,          KiXmmException};
    for (int v = 0; v < 256; v++) KiSetIdtEntry(v, KiUnexpectedInterrupt, 0, 0);
    for (int v = 0; v < 20; v++) KiSetIdtEntry(v, traps[v], v == 3 ? 3 : 0, v == 8 ? 1 : 0);
    KiSetIdtEntry(CLOCK_VECTOR, KiClockInterrupt, 0, 0);

    struct {
        USHORT limit;
        ULONG64 base;
    } __attribute__((packed)) gdtr = {sizeof(KiGdt) - 1, (ULONG64)KiGdt}, idtr = {sizeof(KiIdt) - 1, (ULONG64)KiIdt};
    KiLoadDescriptorTables(&gdtr, &idtr, KGDT64_SYS_TSS);

    KPCR *pcr = &KiInitialPcr;
    pcr->Self = pcr;
    pcr->CurrentPrcb = &pcr->Prcb;
    pcr->GdtBase = KiGdt;
    pcr->TssBase = &KiTss;
    pcr->IdtBase = KiIdt;
    pcr->MajorVersion = 1;
    pcr->MinorVersion = 1;
    __writemsr(MSR_GS_BASE, (ULONG64)pcr);
    __writemsr(MSR_KERNEL_GS_BASE, 0);

    /* syscall: kernel CS 0x10 (SS 0x18); sysret: CS 0x33, SS 0x2b. */
    __writemsr(MSR_STAR, ((ULONG64)(KGDT64_R3_CMCODE | RPL_MASK) << 48) | ((ULONG64)KGDT64_R0_CODE << 32));
    __writemsr(MSR_LSTAR, (ULONG64)KiSystemCall64);
    __writemsr(MSR_FMASK, 0x4700); /* TF IF DF NT, as Windows */
    ULONG lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
    __writemsr(MSR_EFER, (((ULONG64)hi << 32) | lo) | 1 /* SCE */);
}

KTHREAD *KeGetCurrentThread(void) { return KiInitialPcr.Prcb.CurrentThread; }

/* Sets the stack the CPU and KiSystemCall64 switch to for thread t. */
void KiSetKernelStack(KTHREAD *t) {
    KiTss.Rsp0 = (ULONG64)t->InitialStack;
    KiInitialPcr.Prcb.RspBase = (ULONG64)t->InitialStack;
}

void KiInitializeClock(void) {
    /* 8259s: master at 0x30, slave at 0x38; only the clock (IRQ 0) open. */
    WRITE_PORT_UCHAR(PIC1, 0x11);
    WRITE_PORT_UCHAR(PIC2, 0x11);
    WRITE_PORT_UCHAR(PIC1 + 1, CLOCK_VECTOR);
    WRITE_PORT_UCHAR(PIC2 + 1, CLOCK_VECTOR + 8);
    WRITE_PORT_UCHAR(PIC1 + 1, 4);
    WRITE_PORT_UCHAR(PIC2 + 1, 2);
    WRITE_PORT_UCHAR(PIC1 + 1, 1);
    WRITE_PORT_UCHAR(PIC2 + 1, 1);
    WRITE_PORT_UCHAR(PIC1 + 1, 0xfe);
    WRITE_PORT_UCHAR(PIC2 + 1, 0xff);
    /* PIT channel 0, rate generator. */
    USHORT divisor = PIT_HZ / CLOCK_HZ;
    WRITE_PORT_UCHAR(0x43, 0x34);
    WRITE_PORT_UCHAR(0x40, (UCHAR)divisor);
    WRITE_PORT_UCHAR(0x40, (UCHAR)(divisor >> 8));
}

void KiClockTick(void); /* sched.c */

static const char *KiTrapName(ULONG64 v) {
    static const char *names[20] = {"divide", "debug", "nmi", "breakpoint", "overflow", "bound", "invalid-opcode",
                                    "npx", "double-fault", "npx-overrun", "invalid-tss", "segment-not-present",
                                    "stack", "general-protection", "page-fault", "reserved", "x87", "alignment",
                                    "machine-check", "simd"};
    return v < 20 ? names[v] : "unexpected";
}

/* C half of KiCommonTrap. A fault the memory manager cannot resolve ends
   the thread when it came from user mode, and is a bugcheck otherwise. */
void KiDispatchTrap(KTRAP_FRAME *tf) {
    if (tf->Vector == CLOCK_VECTOR) {
        WRITE_PORT_UCHAR(PIC1, 0x20);
        KiInitialPcr.Prcb.InterruptCount++;
        KiClockTick();
        return;
    }
    ULONG64 cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    /* A fault on a user address is the memory manager's to resolve, from
       user mode or from a system service touching user memory. */
    if (tf->Vector == 14 && cr2 < MM_USER_PROBE_ADDRESS &&
        NT_SUCCESS(MmAccessFault(cr2, (tf->ErrorCode & 2) != 0, (tf->SegCs & RPL_MASK) != 0)))
        return;
    if (tf->SegCs & RPL_MASK) {
        KTHREAD *t = KeGetCurrentThread();
        ETHREAD *et = CONTAINING_RECORD(t, ETHREAD, Tcb);
        DbgPrint("frost-guest: user-fault pid=%llu tid=%llu trap=%s rip=0x%llx cr2=0x%llx error=0x%llx\n",
                 (ULONG64)et->Cid.UniqueProcess, (ULONG64)et->Cid.UniqueThread, KiTrapName(tf->Vector), tf->Rip,
                 cr2, tf->ErrorCode);
        KiTerminateCurrentThread();
    }
    DbgPrint("frost-guest: kernel-trap trap=%s rip=0x%llx rsp=0x%llx cr2=0x%llx\n", KiTrapName(tf->Vector), tf->Rip,
             tf->Rsp, cr2);
    KeBugCheckEx(tf->Vector == 14 ? PAGE_FAULT_IN_NONPAGED_AREA : UNEXPECTED_KERNEL_MODE_TRAP, tf->Vector, cr2,
                 tf->Rip, tf->ErrorCode);
}
