/*
 * The registry, reduced to the values mini-NT's user programs read:
 * Session Manager\Memory Management\PagingFiles (REG_MULTI_SZ) for smss,
 * and WriterPeriod and SwapperPages (REG_DWORD) for writer and swapper.
 * All come from the loader block, as Windows' SYSTEM hive does.
 */
#include "cm.h"

/* The loaded hives (_CMHIVE.HiveList): none, see cm.h. */
LIST_ENTRY CmpHiveListHead = {&CmpHiveListHead, &CmpHiveListHead};

const char *CmLoadOptions = "";
static const char *CmPagingFiles; /* ASCII multi-string */
static ULONG CmWriterPeriod;
static ULONG CmSwapperPages;

#define REG_DWORD 4
#define REG_MULTI_SZ 7

typedef struct _KEY_VALUE_PARTIAL_INFORMATION {
    ULONG TitleIndex;
    ULONG Type;
    ULONG DataLength;
    UCHAR Data[1];
} KEY_VALUE_PARTIAL_INFORMATION;

void CmInitSystem(LOADER_PARAMETER_BLOCK *lb) {
    CmLoadOptions = (const char *)lb->LoadOptions;
    CmPagingFiles = (const char *)lb->PagingFiles;
    CmWriterPeriod = lb->WriterPeriodMs;
    CmSwapperPages = lb->SwapperPages;
}

NTSTATUS NtQueryValueKey(HANDLE KeyHandle, PUNICODE_STRING ValueName, ULONG KeyValueInformationClass,
                         PVOID KeyValueInformation, ULONG Length, PULONG ResultLength) {
    (void)KeyHandle, (void)KeyValueInformationClass;
    /* The registers as this call sees them at its first instruction, for
       debuggers to compare with what they read at a breakpoint here. */
    ULONG lo, hi, klo, khi, elo, ehi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xC0000101));
    __asm__ volatile("rdmsr" : "=a"(klo), "=d"(khi) : "c"(0xC0000102));
    __asm__ volatile("rdmsr" : "=a"(elo), "=d"(ehi) : "c"(0xC0000080));
    DbgPrint("frost-guest: call function=NtQueryValueKey rip=0x%llx cr3=0x%llx gs-base=0x%llx k-gs-base=0x%llx "
             "efer=0x%llx\n",
             (ULONG64)NtQueryValueKey, __readcr3(), ((ULONG64)hi << 32) | lo, ((ULONG64)khi << 32) | klo,
             ((ULONG64)ehi << 32) | elo);
    char name[64];
    SIZE_T len;
    NTSTATUS st = ExCaptureUnicodeToAscii(ValueName, name, sizeof(name), &len);
    if (!NT_SUCCESS(st)) return st;
    if (!MmProbeUserRange(ResultLength, sizeof(ULONG), TRUE) ||
        !MmProbeUserRange(KeyValueInformation, Length, TRUE))
        return STATUS_ACCESS_VIOLATION;

    WCHAR data[512];
    ULONG type, bytes = 0;
    if (len == 11 && RtlEqualAsciiInsensitive(name, "PagingFiles", 11)) {
        type = REG_MULTI_SZ;
        const char *p = CmPagingFiles;
        ULONG n = 0;
        for (;;) { /* copy up to and including the empty entry that ends it */
            if (n + 1 >= sizeof(data) / sizeof(WCHAR)) return STATUS_BUFFER_TOO_SMALL;
            data[n++] = (WCHAR)*p;
            if (*p == 0 && (n == 1 || p[-1] == 0)) break;
            p++;
        }
        bytes = n * sizeof(WCHAR);
    } else if (len == 12 && RtlEqualAsciiInsensitive(name, "WriterPeriod", 12)) {
        type = REG_DWORD;
        memcpy(data, &CmWriterPeriod, sizeof(ULONG));
        bytes = sizeof(ULONG);
    } else if (len == 12 && RtlEqualAsciiInsensitive(name, "SwapperPages", 12)) {
        type = REG_DWORD;
        memcpy(data, &CmSwapperPages, sizeof(ULONG));
        bytes = sizeof(ULONG);
    } else {
        return STATUS_OBJECT_NAME_NOT_FOUND;
    }
    ULONG need = offsetof(KEY_VALUE_PARTIAL_INFORMATION, Data) + bytes;
    *ResultLength = need;
    if (Length < need) return STATUS_BUFFER_TOO_SMALL;
    KEY_VALUE_PARTIAL_INFORMATION *info = KeyValueInformation;
    info->TitleIndex = 0;
    info->Type = type;
    info->DataLength = bytes;
    memcpy(info->Data, data, bytes);
    return STATUS_SUCCESS;
}
