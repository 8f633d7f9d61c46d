/*
 * The call chain mini-NT reports of one system call, for the call-stack
 * test (issue 16): the user functions on the path each record their own
 * return address (__builtin_return_address(0), exact) in a FROST_USER_STACK
 * that the thread's TEB points at (NtTib.ArbitraryUserPointer, the field
 * Windows leaves to the program), and the kernel, asked by Report, prints
 * the whole chain from the service down to the thread's first frame
 * without unwinding anything (ntos/stacktrace.c). Shared by the kernel and
 * the user images; plain C types, as each side has its own typedefs.
 */
#ifndef MININT_STACKTRACE_H
#define MININT_STACKTRACE_H

/* 'FSTK': the TEB's pointer is a chain record, not something else. */
#define FROST_STACK_TAG 0x4b545346u
#define FROST_STACK_MAX 16

typedef struct _FROST_USER_STACK {
    unsigned int Tag;
    /* Nonzero: the kernel reports this call's chain (and the nested one
       below the service). */
    unsigned int Report;
    /* The caller's own count of the call (writer.exe's write count). */
    unsigned long long Count;
    /* What the thread's first frame found in its return-address slot: 0,
       the end of the stack, where an unwinder stops. */
    unsigned long long End;
    /* Return addresses, outermost caller first: Frames[0] is where the
       first function of the chain returns to (in the thread's first
       frame), the last is the return address of the innermost function,
       the one that calls the system service stub (whose own return
       address the kernel reads at the user RSP: the stub is a leaf). */
    unsigned int Depth;
    unsigned int Reserved;
    unsigned long long Frames[FROST_STACK_MAX];
} FROST_USER_STACK;

#endif
