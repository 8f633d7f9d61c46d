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

/* Writes writer's message number count to file through write (ntdll's
   NtWriteFile). */
__attribute__((noinline)) NTSTATUS FrostWriteMessage(PVOID write, HANDLE file, IO_STATUS_BLOCK *iosb,
                                                     ULONG count) {
    char msg[96];
    ULONG len = Format(msg, sizeof(msg), "frost-writer: message %u from writer.exe\r\n", count);
    NT_WRITE_FILE_WIDE volatile fn = (NT_WRITE_FILE_WIDE)write;
    return fn(file, 0, 0, 0, iosb, msg, 0xA5A5A5A500000000ull | len, 0, 0);
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
