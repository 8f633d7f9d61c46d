/*
 * swapper.exe, after Rekall's swapper test program: it builds a working
 * set the memory manager will trim and page out, with every kind of
 * private memory and an image view, then idles for good.
 *
 *  - (a) 64 pages reserved and committed in one call, never touched: zero
 *    PTEs (most without a page table), the VAD says committed;
 *  - (b) the pattern region: N pages (swapperpages=, default 2048)
 *    committed inside a reservation and all written, plus 64 committed and
 *    never touched (demand-zero PTEs);
 *  - (c) 64 committed pages of which 16 are touched and 32 then decommitted;
 *  - 40 one-page regions, so the VAD tree is deep;
 *  - a view of \Windows\System32\frostimg.dll (an image section) mapped at
 *    0x7ff600000000, above 16 TiB, of which a few pages are read.
 *
 * Pattern: qword 0 of page i is 0x46524F5354000000 | i ("FROST"), and
 * qword j >= 1 is (i << 32) | (j * 0x9E3779B1 mod 2^32). No qword is zero.
 */
#include "ntdll.h"

#define KeyValuePartialInformation 2
#define PATTERN_BASE 0x40000000ull
#define COMMITTED_BASE 0x30000000ull
#define DECOMMIT_BASE 0x50000000ull
#define SMALL_BASE 0x60000000ull
#define IMAGE_VIEW_BASE 0x7ff600000000ull
#define EXTRA_PAGES 64
#define SMALL_REGIONS 40
#define PAGE 4096ull

static void Fail(const char *what, NTSTATUS st) {
    DbgPrint("frost-guest: swapper-error what=%s status=0x%08x\n", what, (ULONG)st);
    RtlExitUserProcess(st);
}

static NTSTATUS Allocate(ULONG64 base, ULONG64 size, ULONG type) {
    PVOID b = (PVOID)base;
    SIZE_T s = size;
    return NtAllocateVirtualMemory((HANDLE)-1, &b, 0, &s, type, PAGE_READWRITE);
}

static ULONG QueryPages(void) {
    UCHAR buf[64];
    WCHAR wide[32];
    UNICODE_STRING value;
    ULONG len;
    RtlInitUnicodeFromAscii(&value, wide, 32, "SwapperPages");
    if (!NT_SUCCESS(NtQueryValueKey(0, &value, KeyValuePartialInformation, buf, sizeof(buf), &len))) return 2048;
    return *(ULONG *)((KEY_VALUE_PARTIAL_INFORMATION *)buf)->Data;
}

static ULONG64 MapImage(ULONG64 *size) {
    WCHAR wide[64];
    UNICODE_STRING name;
    RtlInitUnicodeFromAscii(&name, wide, 64, "\\??\\C:\\Windows\\System32\\frostimg.dll");
    OBJECT_ATTRIBUTES oa = {sizeof(oa), 0, &name, OBJ_CASE_INSENSITIVE, 0, 0};
    IO_STATUS_BLOCK iosb;
    HANDLE file, section;
    NTSTATUS st = NtCreateFile(&file, FILE_READ_DATA | SYNCHRONIZE, &oa, &iosb, 0, 0, 1, FILE_OPEN,
                               FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE, 0, 0);
    if (!NT_SUCCESS(st)) Fail("open-image", st);
    st = NtCreateSection(&section, 0xf001f, 0, 0, PAGE_EXECUTE_READ, SEC_IMAGE, file);
    if (!NT_SUCCESS(st)) Fail("NtCreateSection", st);
    PVOID base = (PVOID)IMAGE_VIEW_BASE;
    SIZE_T viewSize = 0;
    st = NtMapViewOfSection(section, (HANDLE)-1, &base, 0, 0, 0, &viewSize, 1, 0, PAGE_EXECUTE_READ);
    if (!NT_SUCCESS(st)) Fail("NtMapViewOfSection", st);
    *size = viewSize;
    return (ULONG64)base;
}

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    PROCESS_BASIC_INFORMATION pbi;
    NTSTATUS st = NtQueryInformationProcess((HANDLE)-1, 0, &pbi, sizeof(pbi), 0);
    if (!NT_SUCCESS(st)) Fail("NtQueryInformationProcess", st);
    ULONG pages = QueryPages();

    /* (a) */
    st = Allocate(COMMITTED_BASE, EXTRA_PAGES * PAGE, MEM_RESERVE | MEM_COMMIT);
    if (!NT_SUCCESS(st)) Fail("reserve-commit", st);
    /* (b) */
    st = Allocate(PATTERN_BASE, (pages + EXTRA_PAGES) * PAGE, MEM_RESERVE);
    if (NT_SUCCESS(st)) st = Allocate(PATTERN_BASE, (pages + EXTRA_PAGES) * PAGE, MEM_COMMIT);
    if (!NT_SUCCESS(st)) Fail("pattern", st);
    /* (c) */
    st = Allocate(DECOMMIT_BASE, EXTRA_PAGES * PAGE, MEM_RESERVE);
    if (NT_SUCCESS(st)) st = Allocate(DECOMMIT_BASE, EXTRA_PAGES * PAGE, MEM_COMMIT);
    if (!NT_SUCCESS(st)) Fail("decommit-region", st);
    for (ULONG i = 0; i < 16; i++) *(volatile ULONG64 *)(DECOMMIT_BASE + i * PAGE) = 0x4445434F4D4D4954ull;
    PVOID b = (PVOID)(DECOMMIT_BASE + 16 * PAGE);
    SIZE_T s = 32 * PAGE;
    st = NtFreeVirtualMemory((HANDLE)-1, &b, &s, MEM_DECOMMIT);
    if (!NT_SUCCESS(st)) Fail("decommit", st);
    /* Many small VADs. */
    for (ULONG i = 0; i < SMALL_REGIONS; i++) {
        st = Allocate(SMALL_BASE + i * 0x10000ull, PAGE, MEM_RESERVE | MEM_COMMIT);
        if (!NT_SUCCESS(st)) Fail("small-region", st);
    }

    /* The view first, so its pages are the oldest in the working set and
       the first to be trimmed. */
    ULONG64 viewSize;
    ULONG64 view = MapImage(&viewSize);
    ULONG64 sum = 0;
    sum = FrostSumPages(view, viewSize / PAGE < 4 ? viewSize / PAGE : 4, PAGE); /* frostrt.dll */


    /* The pattern. */
    for (ULONG i = 0; i < pages; i++) {
        volatile ULONG64 *q = (volatile ULONG64 *)(PATTERN_BASE + i * PAGE);
        q[0] = 0x46524F5354000000ull | i;
        for (ULONG j = 1; j < 512; j++) q[j] = ((ULONG64)i << 32) | (ULONG)(j * 0x9E3779B1u);
    }

    DbgPrint("frost-guest: swapper pid=%llu pattern-base=0x%llx pages=%u demand-zero-base=0x%llx "
             "committed-base=0x%llx decommit-base=0x%llx image-view=0x%llx image-size=0x%llx checksum=0x%llx\n",
             pbi.UniqueProcessId, PATTERN_BASE, pages, PATTERN_BASE + (ULONG64)pages * PAGE, COMMITTED_BASE,
             DECOMMIT_BASE + 16 * PAGE, view, viewSize, sum);
    /* Idle for good: nothing touches the regions again. */
    LARGE_INTEGER forever;
    forever.QuadPart = -(LONGLONG)3600 * 10000000;
    for (;;) NtDelayExecution(0, &forever);
}
