/*
 * Boot phases: KiSystemStartup (phase 0, on the boot processor's stack) and
 * Phase1Initialization (the System thread), which calls
 * Phase1InitializationDiscard. Both KiSystemStartup and
 * Phase1InitializationDiscard live in INIT, which is unmapped when phase 1
 * ends, as in Windows.
 */
#include "ke.h"
#include "ndis.h"

ULONG InitWinPEModeType;
BOOLEAN InitIsWinPEMode;

/* Is word a space-separated token of s? Windows matches LoadOptions
   substrings; mini-NT's options are words. */
static BOOLEAN HasOption(const char *s, const char *word) {
    SIZE_T n = RtlStringLength(word);
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '/') p++;
        const char *tok = p;
        while (*p && *p != ' ') p++;
        if ((SIZE_T)(p - tok) == n && RtlEqualAsciiInsensitive(tok, word, n)) return TRUE;
    }
    return FALSE;
}

/*
 * Parses LoadOptions as Windows does: MININT makes this a WinPE boot, and
 * INRAM then ORs 0x80000000 (WinPE in RAM) into InitWinPEModeType, else 1.
 * The "assign" build (MININT_ASSIGN_WINPE) stores the value instead of
 * ORing it in, so a boot-time change made earlier is lost.
 */
INITCODE void Phase1InitializationDiscard(PVOID Context) {
    (void)Context;
    DbgPrint("frost-guest: phase1-discard-enter InitWinPEModeType=0x%08x InitIsWinPEMode=%u\n", InitWinPEModeType,
             (ULONG)InitIsWinPEMode);
    IoInitSystem();
    ULONG mode = 0;
    if (HasOption(CmLoadOptions, "MININT")) {
        InitIsWinPEMode = TRUE;
        mode = HasOption(CmLoadOptions, "INRAM") ? 0x80000000u : 1u;
    }
#ifdef MININT_ASSIGN_WINPE
    InitWinPEModeType = mode;
#else
    InitWinPEModeType |= mode;
#endif
    DbgPrint("frost-guest: phase1-discard-leave InitWinPEModeType=0x%08x InitIsWinPEMode=%u\n", InitWinPEModeType,
             (ULONG)InitIsWinPEMode);
}

#define SMSS_PATH "\\??\\C:\\Windows\\System32\\smss.exe"

/* The resetonce option: a keyboard-controller reset in the middle of phase
   1, marked in CMOS so the next boot does not reset again. */
static void KiResetOnce(LOADER_PARAMETER_BLOCK *lb) {
    if (!(lb->Flags & LOADER_FLAG_RESET_ONCE)) return;
    DbgPrint("frost-guest: reset reason=resetonce boot=%u\n", lb->BootCount);
    WRITE_PORT_UCHAR(0x70, CMOS_BOOT_COUNT);
    WRITE_PORT_UCHAR(0x71, (UCHAR)(CMOS_BOOT_MAGIC | (lb->BootCount & 0x0F)));
    for (;;) {
        while (READ_PORT_UCHAR(0x64) & 2) {
        }
        WRITE_PORT_UCHAR(0x64, 0xFE);
    }
}

NOINLINE void Phase1Initialization(PVOID Context) {
    Phase1InitializationDiscard(Context);
    KiResetOnce((LOADER_PARAMETER_BLOCK *)Context);
    MiFreeInitializationCode();
    MiStartBalanceSetManager((LOADER_PARAMETER_BLOCK *)Context);
    DbgPrint("frost-guest: ejectable volume=\\Device\\HarddiskVolume1 drive=C: value=%u\n",
             (ULONG)IoIsDeviceEjectable(IoBootVolume));
    /* The network, when the machine has a NIC, before any process that
       may use it. */
    NdisInitializeNetwork();
    EPROCESS *smss;
    ETHREAD *t;
    NTSTATUS st = PspCreateUserProcess(SMSS_PATH, sizeof(SMSS_PATH) - 1, PsInitialSystemProcess, &smss, &t);
    if (!NT_SUCCESS(st)) KeBugCheckEx(PROCESS_INITIALIZATION_FAILED, (ULONG64)(ULONG)st, 0, 0, 0);
    /* Like Windows' phase 1 thread, this one stays on as a system worker. */
    for (;;) KeDelayExecutionThread(CLOCK_HZ);
}

static void KiReportKernelImage(void) {
    extern char __ImageBase[];
    UCHAR *base = (UCHAR *)__ImageBase;
    UCHAR *opt = base + *(ULONG *)(base + 0x3c) + 24;
    ULONG sizeOfImage = *(ULONG *)(opt + 56);
    ULONG dirRva = *(ULONG *)(opt + 112 + 6 * 8), dirSize = *(ULONG *)(opt + 112 + 6 * 8 + 4);
    for (ULONG off = 0; off + 28 <= dirSize; off += 28) {
        UCHAR *d = base + dirRva + off;
        if (*(ULONG *)(d + 12) != 2 /* IMAGE_DEBUG_TYPE_CODEVIEW */) continue;
        UCHAR *cv = base + *(ULONG *)(d + 20);
        if (RtlCompareMemory(cv, "RSDS", 4) != 0) continue;
        UCHAR *g = cv + 4;
        DbgPrint("frost-guest: kernel base=0x%llx size=0x%x pdb=%s guid=%08X%04X%04X", (ULONG64)base, sizeOfImage,
                 (const char *)(cv + 24), *(ULONG *)g, (ULONG)*(USHORT *)(g + 4), (ULONG)*(USHORT *)(g + 6));
        for (int i = 8; i < 16; i++) DbgPrint("%02X", (ULONG)g[i]);
        DbgPrint(" age=%u\n", *(ULONG *)(cv + 20));
        return;
    }
    DbgPrint("frost-guest: kernel base=0x%llx size=0x%x pdb=none\n", (ULONG64)base, sizeOfImage);
}

INITCODE void KiSystemStartup(LOADER_PARAMETER_BLOCK *LoaderBlock) {
    KdInitSerial();
    if (LoaderBlock->Signature != LOADER_BLOCK_SIGNATURE || LoaderBlock->Size != sizeof(LOADER_PARAMETER_BLOCK))
        KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 1, LoaderBlock->Signature, LoaderBlock->Size, 0);
    MmInitSystem(LoaderBlock);
    KiInitializeProcessor();
    KiReportKernelImage();
    DbgPrint("frost-guest: cpu phys-bits=%u invalid-pte-mask=0x%llx\n", KiImplementedPhysicalBits,
             MiState.Hardware.InvalidPteMask);
    KdInitSystem(LoaderBlock);
    KiInitializeServiceTable();
    ObInitSystem();
    CmInitSystem(LoaderBlock);
    PsInitSystem(LoaderBlock, Phase1Initialization);
    KiInitializeClock();
    KiIdleLoop();
}
