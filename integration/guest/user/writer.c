/*
 * writer.exe: opens \??\C:\frost\log.txt and writes a known, counted
 * message with NtWriteFile, every WriterPeriod milliseconds (0: a tight
 * loop). Before that it opens 300 event handles, so the log file's handle
 * lives in a level-1 handle table. Then it creates and holds a named
 * mutant, \BaseNamedObjects\FrostWriterMutant, as a program guarding a
 * single instance does. The write goes through frostrt.dll,
 * which leaves garbage in the upper half of the Length argument's stack
 * slot, as real callers may.
 *
 * Every write takes the same call chain, whose functions have different
 * unwind data (the call-stack test of issue 16, README.md "Call stacks"):
 * NtProcessStartup -> WriterWrite (writerframe.c: alloca, frame register)
 * -> frostrt!FrostWriteMessage (a frame larger than a page) ->
 * frostrt!FrostIssueWrite (saves nonvolatile registers) -> ntdll!NtWriteFile
 * (a leaf stub) -> the kernel. Each records its return address in the
 * chain record the TEB points at; on write WRITER_STACK_COUNT the record
 * asks the kernel to report the chain. The chain, and every stack pointer
 * on it, is the same at every write.
 */
#include "ntdll.h"

#define KeyValuePartialInformation 2
#define EVENT_ALL_ACCESS 0x1f0003
#define MUTANT_ALL_ACCESS 0x1f0001
#define EXTRA_HANDLES 300
#define WRITER_STACK_COUNT 3

NTSTATUS WriterWrite(HANDLE file, IO_STATUS_BLOCK *iosb, ULONG count); /* writerframe.c */

static ULONG QueryPeriod(void) {
    UCHAR buf[64];
    WCHAR wide[32];
    UNICODE_STRING value;
    ULONG len;
    RtlInitUnicodeFromAscii(&value, wide, 32, "WriterPeriod");
    if (!NT_SUCCESS(NtQueryValueKey(0, &value, KeyValuePartialInformation, buf, sizeof(buf), &len))) return 1000;
    return *(ULONG *)((KEY_VALUE_PARTIAL_INFORMATION *)buf)->Data;
}

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    /* The thread's first frame: KiStartUserThread entered it with a zero
       return-address slot, the end of the stack. */
    FROST_USER_STACK chain = {.Tag = FROST_STACK_TAG};
    chain.End = (ULONG64)__builtin_return_address(0);
    NtCurrentTib()->ArbitraryUserPointer = &chain;
    ULONG period = QueryPeriod();

    HANDLE h = 0;
    ULONG opened = 0;
    for (ULONG i = 0; i < EXTRA_HANDLES; i++) {
        NTSTATUS st = NtCreateEvent(&h, EVENT_ALL_ACCESS, 0, 0, 0);
        if (!NT_SUCCESS(st)) {
            DbgPrint("frost-guest: writer-error what=NtCreateEvent status=0x%08x\n", (ULONG)st);
            break;
        }
        opened++;
    }
    DbgPrint("frost-guest: handles count=%u last=0x%llx\n", opened, (ULONG64)h);

    WCHAR wide[64];
    UNICODE_STRING name;
    RtlInitUnicodeFromAscii(&name, wide, 64, "\\??\\C:\\frost\\log.txt");
    OBJECT_ATTRIBUTES oa = {sizeof(oa), 0, &name, OBJ_CASE_INSENSITIVE, 0, 0};
    IO_STATUS_BLOCK iosb;
    HANDLE file;
    NTSTATUS st = NtCreateFile(&file, FILE_APPEND_DATA | SYNCHRONIZE, &oa, &iosb, 0, 0x80, 1, FILE_OPEN_IF,
                               FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE, 0, 0);
    DbgPrint("frost-guest: writer-open handle=0x%llx status=0x%08x\n", (ULONG64)file, (ULONG)st);
    if (!NT_SUCCESS(st)) RtlExitUserProcess(st);

    RtlInitUnicodeFromAscii(&name, wide, 64, "\\BaseNamedObjects\\FrostWriterMutant");
    HANDLE mutant;
    st = NtCreateMutant(&mutant, MUTANT_ALL_ACCESS, &oa, 1); /* InitialOwner */
    DbgPrint("frost-guest: writer-mutant handle=0x%llx status=0x%08x\n", (ULONG64)mutant, (ULONG)st);

    for (ULONG count = 1;; count++) {
        /* frostrt.dll formats the message and calls ntdll's NtWriteFile. */
        chain.Depth = 0;
        chain.Count = count;
        chain.Report = count == WRITER_STACK_COUNT;
        st = WriterWrite(file, &iosb, count);
        DbgPrint("frost-guest: write count=%u status=0x%08x bytes=%llu\n", count, (ULONG)st, iosb.Information);
        if (period) Sleep(period);
    }
}
