/*
 * frostrt.dll: a second DLL writer.exe and swapper.exe import, so their
 * user-mode call chains cross modules as on Windows (writer.exe ->
 * frostrt.dll -> ntdll.dll -> the kernel). It imports nothing itself: the
 * process loader (ntos/ldr.c) snaps only the exe's imports, so what it
 * needs from ntdll comes in as an argument.
 */
#include "ntdll.h"
#include "../include/fmt.h"

/* NtWriteFile seen with a 64-bit Length, so the caller fills the whole
   stack slot; the kernel reads the ULONG it declares. Like real callers
   may, this leaves garbage in the slot's upper half. */
typedef NTSTATUS (*NT_WRITE_FILE_WIDE)(HANDLE, HANDLE, PVOID, PVOID, IO_STATUS_BLOCK *, PVOID, ULONG64,
                                       PLARGE_INTEGER, PULONG);

static ULONG Format(char *buf, ULONG cap, const char *fmt, ...) {
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    ULONG n = FmtV(buf, cap, fmt, ap);
    __builtin_va_end(ap);
    return n;
}

/* The message buffer: larger than a page, so FrostWriteMessage's frame is
   too (UWOP_ALLOC_LARGE in its unwind data), as a function with a big
   local buffer has; stack probes are off (see the Makefile). */
#define MESSAGE_BUFFER 6144

/* Writes writer's message number count to file through write (ntdll's
   NtWriteFile), by way of FrostIssueWrite. */
__attribute__((noinline)) NTSTATUS FrostWriteMessage(PVOID write, HANDLE file, IO_STATUS_BLOCK *iosb,
                                                     ULONG count) {
    FrostStackRecord(__builtin_return_address(0));
    char msg[MESSAGE_BUFFER];
    ULONG len = Format(msg, sizeof(msg), "frost-writer: message %u from writer.exe\r\n", count);
    return FrostIssueWrite(write, file, iosb, msg, len);
}

/* Writes len bytes of msg to file through write until all are written or
   a call fails, as a caller that must not lose a short write does. What
   it needs after each call lives in nonvolatile registers, which its
   prologue saves (UWOP_PUSH_NONVOL). iosb ends up describing the last
   call, which for mini-NT's synchronous writes is the only one. */
__attribute__((noinline)) NTSTATUS FrostIssueWrite(PVOID write, HANDLE file, IO_STATUS_BLOCK *iosb, const char *msg,
                                                   ULONG len) {
    FrostStackRecord(__builtin_return_address(0));
    NT_WRITE_FILE_WIDE volatile fn = (NT_WRITE_FILE_WIDE)write;
    NTSTATUS st = 0;
    for (ULONG done = 0; done < len;) {
        st = fn(file, 0, 0, 0, iosb, (PVOID)(msg + done), 0xA5A5A5A500000000ull | (len - done), 0, 0);
        if (!NT_SUCCESS(st) || iosb->Information == 0 || iosb->Information > len - done) break;
        done += (ULONG)iosb->Information;
    }
    return st;
}

/* The sum of the first qword of each of pages pages from base: touching
   them brings them in. */
ULONG64 FrostSumPages(ULONG64 base, ULONG64 pages, ULONG64 pageSize) {
    ULONG64 sum = 0;
    for (ULONG64 i = 0; i < pages; i++) sum += *(volatile ULONG64 *)(base + i * pageSize);
    return sum;
}

/* Never called: mini-NT runs no DLL initialisation (see ntos/ldr.c). */
ULONG FrostRuntimeEntry(PVOID base, ULONG reason, PVOID reserved) {
    (void)base, (void)reason, (void)reserved;
    return 1;
}
