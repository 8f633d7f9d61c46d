/*
 * The call chains mini-NT reports for the call-stack test (issue 16,
 * README.md "Call stacks"). A debugger stopped at a service's first
 * instruction unwinds from .pdata/.xdata; this is what it must find,
 * recorded without unwinding anything:
 *
 *  - frame 0: the function's first instruction (where a breakpoint sits);
 *  - its return address, __builtin_return_address(0): in KiSystemCall64
 *    for a service;
 *  - from the thread's trap frame, the user RIP after the syscall (in the
 *    ntdll stub) and the return address at the user RSP: the stub is a
 *    leaf, so at the syscall [Rsp] is where it returns;
 *  - the return addresses the user functions of the chain recorded
 *    themselves in the FROST_USER_STACK their TEB points at
 *    (include/stacktrace.h), innermost first.
 *
 * A service that reports arms one nested report: the next function of
 * the same thread that calls KiReportNestedStack (FsWrite, below
 * NtWriteFile) reports its own entry and return address followed by the
 * service's chain. The kernel is not preemptible, so no other thread runs
 * in between; the armed thread is checked anyway, as the modified page
 * writer's System thread calls FsWrite too.
 */
#include "ke.h"
#include "../include/stacktrace.h"

#define KI_STACK_FRAMES (FROST_STACK_MAX + 4)

typedef struct _KI_STACK_CHAIN {
    KTHREAD *Thread; /* armed for a nested report; NULL: not armed */
    ULONG64 Count;
    ULONG64 UserSp, UserStackBase, UserStackLimit, End;
    ULONG Depth;
    ULONG64 Frames[KI_STACK_FRAMES];
} KI_STACK_CHAIN;

static KI_STACK_CHAIN KiStackChain;

static void KiPrintStack(const char *at, KTHREAD *t, ULONG64 sp, ULONG64 first, ULONG64 second,
                         const KI_STACK_CHAIN *c, ULONG from) {
    ETHREAD *et = CONTAINING_RECORD(t, ETHREAD, Tcb);
    DbgPrint("frost-guest: stack at=%s pid=%llu tid=%llu count=%llu sp=0x%llx stack-base=0x%llx stack-limit=0x%llx "
             "user-sp=0x%llx user-stack-base=0x%llx user-stack-limit=0x%llx end=0x%llx frames=0x%llx,0x%llx",
             at, (ULONG64)et->Cid.UniqueProcess, (ULONG64)et->Cid.UniqueThread, c->Count, sp, (ULONG64)t->StackBase,
             (ULONG64)t->StackLimit, c->UserSp, c->UserStackBase, c->UserStackLimit, c->End, first, second);
    for (ULONG i = from; i < c->Depth; i++) DbgPrint(",0x%llx", c->Frames[i]);
    DbgPrint("\n");
}

/* Reads the chain record the current thread's TEB points at into *rec;
   FALSE when there is none, or it asks for no report. */
static BOOLEAN KiCaptureUserStack(KTHREAD *t, FROST_USER_STACK *rec, NT_TIB *tib) {
    TEB *teb = t->Teb;
    if (!teb || !MmProbeUserRange(teb, sizeof(NT_TIB), FALSE)) return FALSE;
    *tib = teb->NtTib;
    FROST_USER_STACK *user = tib->ArbitraryUserPointer;
    if (!user || !MmProbeUserRange(user, sizeof(*user), FALSE)) return FALSE;
    *rec = *user;
    return rec->Tag == FROST_STACK_TAG && rec->Report && rec->Depth <= FROST_STACK_MAX;
}

void KiReportServiceStack(const char *at, PVOID function, ULONG64 sp, ULONG64 returnAddress) {
    KTHREAD *t = KeGetCurrentThread();
    if (KiStackChain.Thread == t) KiStackChain.Thread = NULL; /* a stale arming: its service ended early */
    FROST_USER_STACK rec;
    NT_TIB tib;
    if (!KiCaptureUserStack(t, &rec, &tib)) return;
    KTRAP_FRAME *tf = t->TrapFrame;
    if (!tf || tf->Vector != 0x2e || !MmProbeUserRange((PVOID)tf->Rsp, sizeof(ULONG64), FALSE)) return;
    KI_STACK_CHAIN *c = &KiStackChain;
    c->Count = rec.Count;
    c->UserSp = tf->Rsp;
    c->UserStackBase = (ULONG64)tib.StackBase;
    c->UserStackLimit = (ULONG64)tib.StackLimit;
    c->End = rec.End;
    c->Depth = 0;
    c->Frames[c->Depth++] = (ULONG64)function;
    c->Frames[c->Depth++] = returnAddress;
    c->Frames[c->Depth++] = tf->Rip;
    c->Frames[c->Depth++] = *(ULONG64 *)tf->Rsp;
    for (ULONG i = rec.Depth; i > 0; i--) c->Frames[c->Depth++] = rec.Frames[i - 1];
    KiPrintStack(at, t, sp, c->Frames[0], c->Frames[1], c, 2);
    c->Thread = t;
}

void KiReportNestedStack(const char *at, PVOID function, ULONG64 sp, ULONG64 returnAddress) {
    KTHREAD *t = KeGetCurrentThread();
    if (KiStackChain.Thread != t) return;
    KiStackChain.Thread = NULL;
    /* The service's frame 0 is its entry; from here its frame shows the
       return address into it, which is this function's returnAddress. */
    KiPrintStack(at, t, sp, (ULONG64)function, returnAddress, &KiStackChain, 1);
}
