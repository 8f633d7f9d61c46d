/*
 * The scheduler: one processor, round-robin over ready threads, preempted
 * by the clock. The kernel runs with interrupts off except in the idle
 * loop, so a thread loses the processor only in user mode, when idle, or
 * when it waits.
 */
#include "ke.h"

static LIST_ENTRY KiReadyListHead = {&KiReadyListHead, &KiReadyListHead};

void KiSetKernelStack(KTHREAD *t);

#define MSR_KERNEL_GS_BASE 0xC0000102

static void InsertTail(LIST_ENTRY *head, LIST_ENTRY *e) {
    e->Flink = head;
    e->Blink = head->Blink;
    head->Blink->Flink = e;
    head->Blink = e;
}

static void RemoveEntry(LIST_ENTRY *e) {
    e->Blink->Flink = e->Flink;
    e->Flink->Blink = e->Blink;
    e->Flink = e->Blink = e;
}

void KiReadyThread(KTHREAD *t) {
    t->State = Ready;
    InsertTail(&KiReadyListHead, &t->WaitListEntry);
}

static void KiSwitchTo(KTHREAD *next) {
    KTHREAD *prev = KiInitialPcr.Prcb.CurrentThread;
    if (next == prev) {
        next->State = Running;
        return;
    }
    next->State = Running;
    KiInitialPcr.Prcb.CurrentThread = next;
    KiSetKernelStack(next);
    if (next->Process != prev->Process) __writecr3(next->Process->DirectoryTableBase);
    /* The user GS base waits in KernelGSBase while the kernel runs: the
       TEB of a user thread (NtCurrentTeb), 0 for a system thread. */
    __writemsr(MSR_KERNEL_GS_BASE, (ULONG64)next->Teb);
    next->ApcState.Process = next->Process;
    KiSwapContext(&prev->KernelStack, next->KernelStack);
}

/* Gives the processor to the next ready thread, or to the idle thread. The
   caller has already put the current thread where it belongs (ready list,
   an object's wait list, or nowhere when it terminates). */
void KiSwapThread(void) {
    KTHREAD *next = KiInitialPcr.Prcb.IdleThread;
    if (KiReadyListHead.Flink != &KiReadyListHead) {
        LIST_ENTRY *e = KiReadyListHead.Flink;
        RemoveEntry(e);
        next = CONTAINING_RECORD(e, KTHREAD, WaitListEntry);
    }
    KiSwitchTo(next);
}

void KiClockTick(void) {
    KeTickCount++;
    KiUpdateSystemTime();
    KiTimerExpiration();
    KTHREAD *cur = KeGetCurrentThread();
    if (KiReadyListHead.Flink == &KiReadyListHead) return;
    if (cur != KiInitialPcr.Prcb.IdleThread) KiReadyThread(cur);
    KiSwapThread();
}

__attribute__((noreturn)) void KiTerminateCurrentThread(void) {
    _disable();
    KTHREAD *cur = KeGetCurrentThread();
    cur->State = Terminated;
    CONTAINING_RECORD(cur, ETHREAD, Tcb)->ExitTime.QuadPart = KeQuerySystemTime();
    EPROCESS *p = CONTAINING_RECORD(cur->Process, EPROCESS, Pcb);
    if (p->ActiveThreads) p->ActiveThreads--;
    KiSwapThread();
    KeBugCheckEx(UNEXPECTED_KERNEL_MODE_TRAP, 0xdead, (ULONG64)cur, 0, 0);
}

__attribute__((noreturn)) void KiIdleLoop(void) {
    for (;;) {
        _disable();
        if (KiReadyListHead.Flink != &KiReadyListHead) {
            KiSwapThread();
            continue;
        }
        __asm__ volatile("sti; hlt; cli" ::: "memory");
    }
}
