/*
 * Kernel objects and executive structures several subsystems share, with
 * Windows' names and members (Windows 10 19041's, less what mini-NT never
 * uses):
 *  - _KDPC and _KTIMER: the timers behind every sleep (ntos/timer.c);
 *  - _KMUTANT: the mutant object (NtCreateMutant, ob.c/sysent.c);
 *  - _ERESOURCE and _OWNER_ENTRY: the executive resource that guards a
 *    token (TokenLock, ntos/token.c);
 *  - _POOL_TRACKER_BIG_PAGES: an entry of PoolBigPageTable (the pool).
 * They are kernel-internal, so the reorder build swaps their halves like
 * every other structure Frost reads; _DISPATCHER_HEADER never moves.
 */
/* ntdef.h includes this file where _KTHREAD needs _KTIMER; included first,
   this file brings in ntdef.h, which defines everything through it. */
#ifndef MININT_KOBJ_H
#include "ntdef.h"
#endif
#ifndef MININT_KOBJ_H
#define MININT_KOBJ_H

typedef union _ULARGE_INTEGER {
    struct {
        ULONG LowPart;
        ULONG HighPart;
    };
    ULONG64 QuadPart;
} ULARGE_INTEGER;

typedef struct _SINGLE_LIST_ENTRY {
    struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY;

/* Dispatcher object types (_DISPATCHER_HEADER.Type), Windows' numbers. */
#define EventNotificationObject 0
#define EventSynchronizationObject 1
#define MutantObject 2
#define TimerNotificationObject 8
#define TimerSynchronizationObject 9
#define DpcObject 19

struct _KDPC;
typedef void (*PKDEFERRED_ROUTINE)(struct _KDPC *Dpc, PVOID DeferredContext, PVOID SystemArgument1,
                                   PVOID SystemArgument2);

/* A deferred procedure call: what a timer runs when it expires. */
typedef struct _KDPC {
    REORDER(
    UCHAR Type; /* DpcObject */
    UCHAR Importance;
    USHORT Number;
    SINGLE_LIST_ENTRY DpcListEntry;
    ULONG64 ProcessorHistory;
    PKDEFERRED_ROUTINE DeferredRoutine;
    , /* the second half */
    PVOID DeferredContext;
    PVOID SystemArgument1;
    PVOID SystemArgument2;
    PVOID DpcData;)
} KDPC, *PKDPC;

/* A timer: a dispatcher object signalled at DueTime (interrupt time, 100 ns
   units), then every Period ms if Period is not 0, queueing Dpc if set.
   While armed it is on a KiTimerTableListHead entry. */
typedef struct _KTIMER {
    DISPATCHER_HEADER Header;
    REORDER(
    ULARGE_INTEGER DueTime;
    LIST_ENTRY TimerListEntry;
    , /* the second half */
    KDPC *Dpc;
    USHORT Processor;
    UCHAR TimerType; /* 0: notification, 1: synchronization */
    ULONG Period;)   /* ms */
} KTIMER, *PKTIMER;

/* One hand of the timer wheel: timers whose due tick hashes here. */
typedef struct _KTIMER_TABLE_ENTRY {
    REORDER(
    ULONG64 Lock;
    LIST_ENTRY Entry;
    , /* the second half */
    ULARGE_INTEGER Time;) /* the earliest DueTime on Entry */
} KTIMER_TABLE_ENTRY;

/* A thread's wait on one object: on the object's Header.WaitListHead. */
typedef struct _KWAIT_BLOCK {
    LIST_ENTRY WaitListEntry;
    UCHAR WaitType;
    volatile UCHAR BlockState;
    USHORT WaitKey;
    LONG SpareLong;
    struct _KTHREAD *Thread;
    PVOID Object;
    PVOID SparePtr;
} KWAIT_BLOCK;

/* KTHREAD.WaitBlock[TIMER_WAIT_BLOCK] waits on the thread's own timer. */
#define THREAD_WAIT_OBJECTS 3
#define TIMER_WAIT_BLOCK 3

/* KTHREAD.WaitReason: why a thread waits (Windows' numbering). */
typedef enum _KWAIT_REASON {
    Executive = 0,
    FreePage = 1,
    PageIn = 2,
    PoolAllocation = 3,
    DelayExecution = 4,
    Suspended = 5,
    UserRequest = 6,
    WrExecutive = 7,
    WrDelayExecution = 11,
    WrQueue = 15,
    MaximumWaitReason = 40,
} KWAIT_REASON;

/* A mutant (Win32: mutex). Header.SignalState is 1 when free, <= 0 while
   owned; OwnerThread is the owner, on whose MutantListHead MutantListEntry
   sits. */
typedef struct _KMUTANT {
    DISPATCHER_HEADER Header;
    REORDER(
    LIST_ENTRY MutantListEntry;
    struct _KTHREAD *OwnerThread;
    , /* the second half */
    union {
        UCHAR MutantFlags;
        struct {
            UCHAR Abandoned : 1;
            UCHAR Spare1 : 7;
        };
    };
    UCHAR ApcDisable;)
} KMUTANT, *PKMUTANT;

/* An executive resource's owner: a thread and how many times it holds it. */
typedef struct _OWNER_ENTRY {
    ULONG64 OwnerThread;
    union {
        struct {
            ULONG IoPriorityBoosted : 1;
            ULONG OwnerReferenced : 1;
            ULONG IoQoSPriorityBoosted : 1;
            ULONG OwnerCount : 29;
        };
        ULONG TableSize;
    };
} OWNER_ENTRY;

/* A semaphore: signalled while SignalState > 0, up to Limit. */
typedef struct _KSEMAPHORE {
    DISPATCHER_HEADER Header;
    LONG Limit;
} KSEMAPHORE;

/* An executive resource (shared/exclusive lock), on ExpSystemResourcesList. */
typedef struct _ERESOURCE {
    REORDER(
    LIST_ENTRY SystemResourcesList;
    OWNER_ENTRY *OwnerTable;
    SHORT ActiveCount;
    USHORT Flag;
    KSEMAPHORE *SharedWaiters;
    KEVENT *ExclusiveWaiters;
    OWNER_ENTRY OwnerEntry;
    , /* the second half */
    ULONG ActiveEntries;
    ULONG ContentionCount;
    ULONG NumberOfSharedWaiters;
    ULONG NumberOfExclusiveWaiters;
    PVOID Reserved2;
    PVOID Address;
    ULONG64 SpinLock;)
} ERESOURCE, *PERESOURCE;

/* An entry of PoolBigPageTable: an allocation of a page or more. Va's bit 0
   set means the entry is free. PoolType/SlushSize as Windows packs them. */
typedef struct _POOL_TRACKER_BIG_PAGES {
    REORDER(
    volatile ULONG64 Va;
    ULONG Key; /* the pool tag */
    ULONG Pattern : 8;
    ULONG PoolType : 12;
    ULONG SlushSize : 12;
    , /* the second half */
    ULONG64 NumberOfBytes;
    struct _EPROCESS *ProcessBilled;)
} POOL_TRACKER_BIG_PAGES, *PPOOL_TRACKER_BIG_PAGES;

/* resource.c */
extern LIST_ENTRY ExpSystemResourcesList;
NTSTATUS ExInitializeResourceLite(ERESOURCE *r);
BOOLEAN ExAcquireResourceExclusiveLite(ERESOURCE *r, BOOLEAN wait);
BOOLEAN ExAcquireResourceSharedLite(ERESOURCE *r, BOOLEAN wait);
void ExReleaseResourceLite(ERESOURCE *r);

/* timer.c: due times are interrupt times (100 ns since boot) when
   positive, relative to now when negative, as KeSetTimerEx takes them. */
#define NotificationTimer 0
#define SynchronizationTimer 1
extern KTIMER_TABLE_ENTRY KiTimerTableListHead[];
void KeInitializeTimerEx(KTIMER *t, ULONG type);
void KeInitializeDpc(KDPC *d, PKDEFERRED_ROUTINE routine, PVOID context);
BOOLEAN KeSetTimerEx(KTIMER *t, LONG64 dueTime, ULONG periodMs, KDPC *dpc);
BOOLEAN KeCancelTimer(KTIMER *t);
void KeInitializeEvent(KEVENT *e, ULONG type, BOOLEAN state);
LONG KeSetEvent(KEVENT *e);
NTSTATUS KeWaitForSingleObject(PVOID object, KWAIT_REASON reason);
ULONG64 KeQueryInterruptTime(void);
void KiTimerExpiration(void); /* each clock tick */
void KeStartBalanceSetManagerPeriod(ULONG periodMs);
void KeWaitForBalanceSetManagerPeriod(void);

#endif
