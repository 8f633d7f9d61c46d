/*
 * The shared user data page (_KUSER_SHARED_DATA): one physical page the
 * kernel writes at 0xFFFFF78000000000 and every process reads, read-only,
 * at 0x7FFE0000, as on Windows. The clock interrupt advances its
 * InterruptTime, SystemTime and TickCount; the system time starts from the
 * CMOS real-time clock.
 */
#include "ke.h"

#define SHARED ((KUSER_SHARED_DATA *)KI_USER_SHARED_DATA)
#define PROCESSOR_ARCHITECTURE_AMD64 9
#define TICKS_1601_TO_1970 116444736000000000ull

static ULONG64 KiUserSharedDataPa;

/* The writer's half of KSYSTEM_TIME's protocol (see kd.h). */
static void KiWriteSystemTime(volatile KSYSTEM_TIME *t, ULONG64 v) {
    t->High2Time = (LONG)(v >> 32);
    t->LowPart = (ULONG)v;
    t->High1Time = (LONG)(v >> 32);
}

static ULONG64 KiReadSystemTime(volatile KSYSTEM_TIME *t) {
    return ((ULONG64)(ULONG)t->High1Time << 32) | t->LowPart;
}

static ULONG KiCmos(UCHAR reg, BOOLEAN bcd) {
    WRITE_PORT_UCHAR(0x70, reg);
    ULONG v = READ_PORT_UCHAR(0x71);
    return bcd ? (v >> 4) * 10 + (v & 15) : v;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static LONG64 KiDaysFromCivil(LONG64 y, ULONG m, ULONG d) {
    y -= m <= 2;
    LONG64 era = (y >= 0 ? y : y - 399) / 400;
    ULONG64 yoe = (ULONG64)(y - era * 400);
    ULONG64 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    ULONG64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (LONG64)doe - 719468;
}

/* The RTC's time of day, as 100 ns units since 1601 (UTC, as QEMU's RTC
   keeps it by default). */
static ULONG64 KiReadRealTimeClock(void) {
    while (KiCmos(0x0A, FALSE) & 0x80) { /* an update is in progress */
    }
    BOOLEAN bcd = !(KiCmos(0x0B, FALSE) & 4);
    ULONG sec = KiCmos(0, bcd), min = KiCmos(2, bcd), hour = KiCmos(4, bcd);
    ULONG day = KiCmos(7, bcd), month = KiCmos(8, bcd), year = KiCmos(9, bcd) + 2000;
    LONG64 days = KiDaysFromCivil(year, month, day);
    ULONG64 secs = (ULONG64)days * 86400 + hour * 3600 + min * 60 + sec;
    return secs * 10000000ull + TICKS_1601_TO_1970;
}

INITCODE void KiInitializeUserSharedData(LOADER_PARAMETER_BLOCK *lb) {
    (void)lb;
    KiUserSharedDataPa = MiAllocatePhysicalPage();
    MiMapPage(MmSystemDirectoryTableBase, KI_USER_SHARED_DATA, KiUserSharedDataPa, FALSE, TRUE, FALSE);
    KUSER_SHARED_DATA *s = SHARED;
    s->TickCountMultiplier = (ULONG)(((ULONG64)KeTimeIncrement << 24) / 10000);
    KiWriteSystemTime(&s->SystemTime, KiReadRealTimeClock());
    static const char root[] = "C:\\Windows";
    for (ULONG i = 0; root[i]; i++) s->NtSystemRoot[i] = (WCHAR)root[i];
    s->ImageNumberLow = s->ImageNumberHigh = IMAGE_FILE_MACHINE_AMD64;
    s->NtBuildNumber = MININT_BUILD_NUMBER;
    s->NtProductType = NtProductWinNt;
    s->ProductTypeIsValid = TRUE;
    s->NativeProcessorArchitecture = PROCESSOR_ARCHITECTURE_AMD64;
    s->NtMajorVersion = 10;
    s->NtMinorVersion = 0;
    s->NumberOfPhysicalPages = (ULONG)MiSystemPartition.Vp.NumberOfPhysicalPages;
    s->ActiveProcessorCount = KeNumberProcessors;
    s->ActiveGroupCount = 1;
    s->Cookie = (ULONG)RtlRandom();
    DbgPrint("frost-guest: shared-data va=0x%llx user-va=0x%llx pa=0x%llx nt-major=%u nt-minor=%u build=%u "
             "product-type=%u processors=%u physical-pages=%u system-root=%s system-time=0x%llx\n",
             KI_USER_SHARED_DATA, MM_SHARED_USER_DATA_VA, KiUserSharedDataPa, s->NtMajorVersion, s->NtMinorVersion,
             s->NtBuildNumber, (ULONG)s->NtProductType, s->ActiveProcessorCount, s->NumberOfPhysicalPages, root,
             KiReadSystemTime(&s->SystemTime));
}

/* The same page, read-only, in a new process's user space. */
void KiMapUserSharedData(ULONG64 pml4) {
    MMPTE *pte = MiGetPteAddressCreate(pml4, MM_SHARED_USER_DATA_VA, 0);
    *pte = MiMakeValidPte(KiUserSharedDataPa, TRUE, FALSE, FALSE);
}

void KiUpdateSystemTime(void) {
    KUSER_SHARED_DATA *s = SHARED;
    KiWriteSystemTime(&s->InterruptTime, KiReadSystemTime(&s->InterruptTime) + KeTimeIncrement);
    KiWriteSystemTime(&s->SystemTime, KiReadSystemTime(&s->SystemTime) + KeTimeIncrement);
    ULONG64 ticks = KiReadSystemTime(&s->TickCount) + 1;
    KiWriteSystemTime(&s->TickCount, ticks);
    s->TickCountLowDeprecated = (ULONG)ticks;
}

LONG64 KeQuerySystemTime(void) { return (LONG64)KiReadSystemTime(&SHARED->SystemTime); }
