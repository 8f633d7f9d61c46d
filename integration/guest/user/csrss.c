/*
 * csrss.exe: its start is the moment Frost's boot-time configuration
 * watches for (paging files can no longer be created after it). Its other
 * work in mini-NT: once a second it calls ntdll!NtWriteFile, the very stub
 * writer.exe calls, through its own view of the same ntdll.dll image
 * section, so a user breakpoint on the stub (or on nt!NtWriteFile) that is
 * filtered to writer.exe has another process executing the same shared
 * page to reject. It has no file of its own (the volume has no extent for
 * one), so the call names no handle and the kernel fails it with
 * STATUS_INVALID_HANDLE before any I/O; each call's count and status are
 * reported (csrss-write).
 */
#include "ntdll.h"

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    static const char note[] = "frost-csrss: heartbeat\r\n";
    IO_STATUS_BLOCK iosb;
    for (ULONG count = 1;; count++) {
        Sleep(1000);
        NTSTATUS st = NtWriteFile(0, 0, 0, 0, &iosb, (PVOID)note, sizeof(note) - 1, 0, 0);
        DbgPrint("frost-guest: csrss-write count=%u status=0x%08x\n", count, (ULONG)st);
    }
}
