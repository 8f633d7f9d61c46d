/*
 * smss.exe, the session manager: creates the paging files named in the
 * PagingFiles registry value, starts csrss.exe, writer.exe and swapper.exe
 * (and netclient.exe when the machine has a NIC),
 * and reports the boot settled once the memory manager is. Each NtCreatePagingFile call is reported with the
 * status it returned, so a call that never reached the kernel's code shows
 * up too.
 */
#include "ntdll.h"

#define KeyValuePartialInformation 2
#define DEFAULT_MIN_MB 2
#define DEFAULT_MAX_MB 8

static ULONG ParseNumber(const char **p, ULONG dflt) {
    while (**p == ' ') (*p)++;
    if (**p < '0' || **p > '9') return dflt;
    ULONG n = 0;
    while (**p >= '0' && **p <= '9') n = n * 10 + (ULONG)(*(*p)++ - '0');
    return n;
}

/* One entry, as Windows writes them: "C:\pagefile.sys [min-MB max-MB]". */
static void CreatePagingFile(const char *entry) {
    char path[200] = "\\??\\";
    SIZE_T n = 4;
    const char *p = entry;
    while (*p && *p != ' ' && n + 1 < sizeof(path)) path[n++] = *p++;
    path[n] = 0;
    ULONG minMb = ParseNumber(&p, DEFAULT_MIN_MB);
    ULONG maxMb = ParseNumber(&p, DEFAULT_MAX_MB);
    if (maxMb < minMb) maxMb = minMb;
    WCHAR wide[200];
    UNICODE_STRING name;
    RtlInitUnicodeFromAscii(&name, wide, 200, path);
    LARGE_INTEGER min, max;
    min.QuadPart = (LONGLONG)minMb << 20;
    max.QuadPart = (LONGLONG)maxMb << 20;
    NTSTATUS st = NtCreatePagingFile(&name, &min, &max, 0);
    DbgPrint("frost-guest: NtCreatePagingFile name=%s min=0x%llx max=0x%llx status=0x%08x\n", path,
             (ULONG64)min.QuadPart, (ULONG64)max.QuadPart, (ULONG)st);
}

static void CreatePagingFiles(void) {
    static UCHAR buf[2048];
    WCHAR wide[32];
    UNICODE_STRING value;
    ULONG len;
    RtlInitUnicodeFromAscii(&value, wide, 32, "PagingFiles");
    NTSTATUS st = NtQueryValueKey(0, &value, KeyValuePartialInformation, buf, sizeof(buf), &len);
    if (!NT_SUCCESS(st)) {
        DbgPrint("frost-guest: smss-error what=PagingFiles status=0x%08x\n", (ULONG)st);
        return;
    }
    KEY_VALUE_PARTIAL_INFORMATION *info = (KEY_VALUE_PARTIAL_INFORMATION *)buf;
    const WCHAR *w = (const WCHAR *)info->Data;
    ULONG count = info->DataLength / sizeof(WCHAR);
    char entry[200];
    SIZE_T n = 0;
    for (ULONG i = 0; i < count; i++) {
        if (w[i] == 0) {
            if (n == 0) break;
            entry[n] = 0;
            CreatePagingFile(entry);
            n = 0;
        } else if (n + 1 < sizeof(entry)) {
            entry[n++] = (char)w[i];
        }
    }
}

/* Starts the image at path (an NT path) with the command line cmd. */
static void Start(const char *path, const char *cmd) {
    WCHAR wide[128], wideCmd[160];
    UNICODE_STRING image, commandLine;
    HANDLE process, thread;
    RtlInitUnicodeFromAscii(&image, wide, 128, path);
    RtlInitUnicodeFromAscii(&commandLine, wideCmd, 160, cmd);
    NTSTATUS st = NtCreateUserProcess(&process, &thread, &image, &commandLine);
    if (!NT_SUCCESS(st)) DbgPrint("frost-guest: smss-error what=%s status=0x%08x\n", path, (ULONG)st);
}

/* netclient.exe, the network workload, only on a machine with a NIC: the
   network services fail with STATUS_NO_SUCH_DEVICE without one, so a
   machine without keeps exactly its processes. */
static void StartNetClient(void) {
    FROST_NET_INFORMATION info;
    if (!NT_SUCCESS(NtFrostNetQueryInformation(&info, sizeof(info), 0))) return;
    Start("\\??\\C:\\Windows\\System32\\netclient.exe", "C:\\Windows\\System32\\netclient.exe");
}

/* The boot has settled once the memory manager's balance set manager has
   trimmed swapper's working set and a pass found nothing left to do. */
static void WaitForSettledMemory(void) {
    for (ULONG waited = 0;; waited += 100) {
        ULONG64 info[2];
        NTSTATUS st = NtQuerySystemInformation(SystemBalanceSetInformation, info, sizeof(info), 0);
        if (!NT_SUCCESS(st)) {
            DbgPrint("frost-guest: smss-error what=SystemBalanceSetInformation status=0x%08x\n", (ULONG)st);
            return;
        }
        if (info[1]) return;
        if (waited == 60000) DbgPrint("frost-guest: smss-warning what=not-settled passes=%llu\n", info[0]);
        Sleep(100);
    }
}

/* Reports every handle in the system, as a handle viewer would list them:
   NtQuerySystemInformation(SystemExtendedHandleInformation) asked once for
   the size it needs, then into a buffer that large. */
static void ReportSystemHandles(void) {
    SYSTEM_HANDLE_INFORMATION_EX probe;
    ULONG need = 0;
    NTSTATUS st = NtQuerySystemInformation(SystemExtendedHandleInformation, &probe, sizeof(probe), &need);
    PVOID buf = 0;
    if (st == STATUS_INFO_LENGTH_MISMATCH) {
        SIZE_T size = need;
        st = NtAllocateVirtualMemory((HANDLE)-1, &buf, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
        if (NT_SUCCESS(st)) st = NtQuerySystemInformation(SystemExtendedHandleInformation, buf, (ULONG)size, &need);
    } else if (NT_SUCCESS(st)) {
        buf = &probe;
    }
    if (!NT_SUCCESS(st)) {
        DbgPrint("frost-guest: smss-error what=SystemExtendedHandleInformation status=0x%08x\n", (ULONG)st);
        return;
    }
    SYSTEM_HANDLE_INFORMATION_EX *info = buf;
    DbgPrint("frost-guest: system-handles count=%llu bytes=%u\n", info->NumberOfHandles, need);
    for (ULONG64 i = 0; i < info->NumberOfHandles; i++) {
        SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX *h = &info->Handles[i];
        DbgPrint("frost-guest: system-handle pid=%llu handle=0x%llx object=0x%llx type-index=%u access=0x%x "
                 "attributes=0x%x\n",
                 h->UniqueProcessId, h->HandleValue, (ULONG64)h->Object, (ULONG)h->ObjectTypeIndex,
                 h->GrantedAccess, h->HandleAttributes);
    }
}

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    CreatePagingFiles();
    Start("\\??\\C:\\Windows\\System32\\csrss.exe",
          "C:\\Windows\\System32\\csrss.exe ObjectDirectory=\\Windows SubSystemType=Windows");
    Start("\\??\\C:\\Windows\\System32\\writer.exe", "C:\\Windows\\System32\\writer.exe C:\\frost\\log.txt");
    Start("\\??\\C:\\Windows\\System32\\swapper.exe", "C:\\Windows\\System32\\swapper.exe /pattern");
    StartNetClient();
    WaitForSettledMemory();
    ReportSystemHandles();
    DbgPrint("frost-guest: ready\n");
    for (;;) Sleep(1000);
}
