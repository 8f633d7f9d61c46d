/*
 * Timers, DPCs and waits on one dispatcher object.
 *
 * Armed timers hang on KiTimerTableListHead, a wheel of 256 hands indexed
 * by the clock tick at which they fall due (Windows 7 keeps its timer
 * table under this name; later builds move it into the PRCB). Each clock
 * tick looks at the hands whose tick has come: a timer due is signalled,
 * wakes its waiters, queues its DPC (run at once: the clock interrupt is
 * mini-NT's only DISPATCH_LEVEL) and, if periodic, goes back on the wheel
 * Period ms later. A timer due in a later turn of the wheel stays.
 *
 * Every sleep is a wait on the thread's own KTHREAD.Timer (Dpc NULL,
 * Period 0), as KeDelayExecutionThread arms it; the balance set manager
 * waits, as Windows' does, on an event that a periodic timer's DPC sets.
 */
#include "ke.h"

#define TIMER_TABLE_SIZE 256
KTIMER_TABLE_ENTRY KiTimerTableListHead[TIMER_TABLE_SIZE];
ULONG KiTimerTableSize = TIMER_TABLE_SIZE; /* its entries, for debuggers */
static BOOLEAN KiTimerTableReady;
static ULONG64 KiTimerLastTick; /* the last tick whose hand was looked at */

/* The balance set manager's period: KiBalanceSetManagerPeriodicDpc sets
   KiBalanceSetManagerPeriodicEvent each time the timer falls due. */
KTIMER KiBalanceSetManagerTimer;
KDPC KiBalanceSetManagerPeriodicDpc;
KEVENT KiBalanceSetManagerPeriodicEvent;

static void InitListHead(LIST_ENTRY *h) { h->Flink = h->Blink = h; }
static BOOLEAN IsListEmpty(const LIST_ENTRY *h) { return h->Flink == h; }
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

ULONG64 KeQueryInterruptTime(void) { return KeTickCount * KeTimeIncrement; }

static void KiInitializeTimerTable(void) {
    for (ULONG i = 0; i < TIMER_TABLE_SIZE; i++) {
        InitListHead(&KiTimerTableListHead[i].Entry);
        KiTimerTableListHead[i].Time.QuadPart = ~0ull;
    }
    KiTimerLastTick = KeTickCount;
    KiTimerTableReady = TRUE;
    DbgPrint("frost-guest: timer-table address=0x%llx entries=%u increment=%u\n", (ULONG64)KiTimerTableListHead,
             KiTimerTableSize, KeTimeIncrement);
}

void KeInitializeTimerEx(KTIMER *t, ULONG type) {
    memset(t, 0, sizeof(*t));
    t->Header.Type = type == SynchronizationTimer ? TimerSynchronizationObject : TimerNotificationObject;
    t->Header.Size = (UCHAR)(sizeof(KTIMER) / 8);
    t->TimerType = (UCHAR)type;
    InitListHead(&t->Header.WaitListHead);
    InitListHead(&t->TimerListEntry);
}

void KeInitializeDpc(KDPC *d, PKDEFERRED_ROUTINE routine, PVOID context) {
    memset(d, 0, sizeof(*d));
    d->Type = DpcObject;
    d->Importance = 1; /* MediumImportance */
    d->DeferredRoutine = routine;
    d->DeferredContext = context;
}

void KeInitializeEvent(KEVENT *e, ULONG type, BOOLEAN state) {
    memset(e, 0, sizeof(*e));
    e->Header.Type = (UCHAR)type; /* EventNotificationObject or EventSynchronizationObject */
    e->Header.Size = (UCHAR)(sizeof(KEVENT) / 8);
    e->Header.SignalState = state;
    InitListHead(&e->Header.WaitListHead);
}

static ULONG64 KiDueTick(ULONG64 dueTime) { return (dueTime + KeTimeIncrement - 1) / KeTimeIncrement; }

static void KiInsertTimer(KTIMER *t) {
    KTIMER_TABLE_ENTRY *hand = &KiTimerTableListHead[KiDueTick(t->DueTime.QuadPart) % TIMER_TABLE_SIZE];
    InsertTail(&hand->Entry, &t->TimerListEntry);
    if (t->DueTime.QuadPart < hand->Time.QuadPart) hand->Time.QuadPart = t->DueTime.QuadPart;
}

static void KiRemoveTimer(KTIMER *t) {
    KTIMER_TABLE_ENTRY *hand = &KiTimerTableListHead[KiDueTick(t->DueTime.QuadPart) % TIMER_TABLE_SIZE];
    RemoveEntry(&t->TimerListEntry);
    if (IsListEmpty(&hand->Entry)) hand->Time.QuadPart = ~0ull;
}

static BOOLEAN KiTimerInserted(KTIMER *t) { return t->TimerListEntry.Flink != &t->TimerListEntry; }

/* Makes an object signalled and satisfies its waiters: all of them for a
   notification object, one (and the signal is used up) for a
   synchronization object. */
static void KiSignalObject(DISPATCHER_HEADER *h) {
    h->SignalState = 1;
    BOOLEAN sync = h->Type == EventSynchronizationObject || h->Type == TimerSynchronizationObject;
    while (!IsListEmpty(&h->WaitListHead) && h->SignalState > 0) {
        KWAIT_BLOCK *wb = CONTAINING_RECORD(h->WaitListHead.Flink, KWAIT_BLOCK, WaitListEntry);
        RemoveEntry(&wb->WaitListEntry);
        wb->BlockState = 0;
        if (sync) h->SignalState = 0;
        KiReadyThread(wb->Thread);
    }
}

/* Arms t to fall due at dueTime, then every periodMs if not 0, queueing
   dpc each time. Returns whether it was armed already (and is re-armed). */
BOOLEAN KeSetTimerEx(KTIMER *t, LONG64 dueTime, ULONG periodMs, KDPC *dpc) {
    if (!KiTimerTableReady) KiInitializeTimerTable();
    BOOLEAN was = KiTimerInserted(t);
    if (was) KiRemoveTimer(t);
    ULONG64 now = KeQueryInterruptTime();
    t->DueTime.QuadPart = dueTime < 0 ? now + (ULONG64)(-dueTime) : (ULONG64)dueTime;
    t->Period = periodMs;
    t->Dpc = dpc;
    t->Header.SignalState = 0;
    KiInsertTimer(t);
    return was;
}

BOOLEAN KeCancelTimer(KTIMER *t) {
    BOOLEAN was = KiTimerInserted(t);
    if (was) KiRemoveTimer(t);
    return was;
}

static void KiExpireTimer(KTIMER *t) {
    KiRemoveTimer(t);
    if (t->Period) {
        t->DueTime.QuadPart += (ULONG64)t->Period * 10000;
        KiInsertTimer(t);
    }
    KiSignalObject(&t->Header);
    KDPC *d = t->Dpc;
    if (d) d->DeferredRoutine(d, d->DeferredContext, (PVOID)(ULONG64)t->DueTime.LowPart, (PVOID)(ULONG64)t->DueTime.HighPart);
}

/* The clock's share of timers: each hand whose tick has come since the
   last call, once. */
void KiTimerExpiration(void) {
    if (!KiTimerTableReady) return;
    ULONG64 now = KeQueryInterruptTime();
    for (; KiTimerLastTick < KeTickCount; KiTimerLastTick++) {
        KTIMER_TABLE_ENTRY *hand = &KiTimerTableListHead[(KiTimerLastTick + 1) % TIMER_TABLE_SIZE];
        if (hand->Time.QuadPart > now) continue;
        for (LIST_ENTRY *e = hand->Entry.Flink; e != &hand->Entry;) {
            KTIMER *t = CONTAINING_RECORD(e, KTIMER, TimerListEntry);
            e = e->Flink;
            if (t->DueTime.QuadPart <= now) KiExpireTimer(t);
        }
        /* Time: the earliest due time left on the hand. */
        hand->Time.QuadPart = ~0ull;
        for (LIST_ENTRY *e = hand->Entry.Flink; e != &hand->Entry; e = e->Flink) {
            KTIMER *t = CONTAINING_RECORD(e, KTIMER, TimerListEntry);
            if (t->DueTime.QuadPart < hand->Time.QuadPart) hand->Time.QuadPart = t->DueTime.QuadPart;
        }
    }
}

LONG KeSetEvent(KEVENT *e) {
    LONG old = e->Header.SignalState;
    KiSignalObject(&e->Header);
    return old;
}

/* Waits until object (an event or a timer) is signalled. */
NTSTATUS KeWaitForSingleObject(PVOID object, KWAIT_REASON reason) {
    DISPATCHER_HEADER *h = object;
    KTHREAD *cur = KeGetCurrentThread();
    if (h->SignalState > 0) {
        if (h->Type == EventSynchronizationObject || h->Type == TimerSynchronizationObject) h->SignalState = 0;
        return STATUS_SUCCESS;
    }
    KWAIT_BLOCK *wb = &cur->WaitBlock[0];
    wb->Thread = cur;
    wb->Object = object;
    wb->WaitType = 1; /* WaitAny */
    wb->BlockState = 1;
    InsertTail(&h->WaitListHead, &wb->WaitListEntry);
    cur->State = Waiting;
    cur->WaitReason = (UCHAR)reason;
    cur->WaitTime = KeTickCount;
    KiSwapThread();
    return STATUS_SUCCESS;
}

/* Waits ticks clock ticks on the thread's own timer (0 yields). */
void KeDelayExecutionThread(ULONG64 ticks) {
    KTHREAD *cur = KeGetCurrentThread();
    if (ticks == 0) {
        KiReadyThread(cur);
        KiSwapThread();
        return;
    }
    KTIMER *t = &cur->Timer;
    if (t->Header.Size == 0) KeInitializeTimerEx(t, NotificationTimer);
    KeSetTimerEx(t, -(LONG64)(ticks * KeTimeIncrement), 0, NULL);
    KWAIT_BLOCK *wb = &cur->WaitBlock[TIMER_WAIT_BLOCK];
    wb->Thread = cur;
    wb->Object = t;
    wb->WaitType = 1;
    wb->BlockState = 1;
    InsertTail(&t->Header.WaitListHead, &wb->WaitListEntry);
    cur->State = Waiting;
    cur->WaitReason = DelayExecution;
    cur->WaitTime = KeTickCount;
    KiSwapThread();
}

static void KiBalanceSetManagerPeriodicRoutine(KDPC *dpc, PVOID ctx, PVOID a1, PVOID a2) {
    (void)dpc, (void)a1, (void)a2;
    KeSetEvent(ctx);
}

/* Arms the balance set manager's periodic timer: first due one period
   from now. */
void KeStartBalanceSetManagerPeriod(ULONG periodMs) {
    KeInitializeEvent(&KiBalanceSetManagerPeriodicEvent, EventSynchronizationObject, FALSE);
    KeInitializeDpc(&KiBalanceSetManagerPeriodicDpc, KiBalanceSetManagerPeriodicRoutine,
                    &KiBalanceSetManagerPeriodicEvent);
    KeInitializeTimerEx(&KiBalanceSetManagerTimer, SynchronizationTimer);
    KeSetTimerEx(&KiBalanceSetManagerTimer, -(LONG64)periodMs * 10000, periodMs, &KiBalanceSetManagerPeriodicDpc);
    DbgPrint("frost-guest: timer name=KiBalanceSetManagerTimer address=0x%llx due-time=0x%llx period=%u dpc=0x%llx "
             "routine=0x%llx context=0x%llx type=%u\n",
             (ULONG64)&KiBalanceSetManagerTimer, KiBalanceSetManagerTimer.DueTime.QuadPart, periodMs,
             (ULONG64)&KiBalanceSetManagerPeriodicDpc, (ULONG64)KiBalanceSetManagerPeriodicRoutine,
             (ULONG64)&KiBalanceSetManagerPeriodicEvent, (ULONG)KiBalanceSetManagerTimer.Header.Type);
}

void KeWaitForBalanceSetManagerPeriod(void) { KeWaitForSingleObject(&KiBalanceSetManagerPeriodicEvent, Executive); }
