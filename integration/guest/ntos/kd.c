/*
 * The kernel debugger's data: KdDebuggerDataBlock (the 'KDBG' block a
 * debugger or a memory analysis tool finds the kernel's lists through),
 * KdVersionBlock, and the globals they point at that mini-NT had no other
 * reason to keep: the build strings, the processor count and block, the
 * address-space bounds and MmProtectToValue.
 *
 * Windows encodes the KDBG on some builds (KdpDataBlockEncoded, with
 * KiWaitNever/KiWaitAlways); mini-NT keeps it plain, as a kernel booted
 * with a debugger attached does.
 */
#include "ke.h"

KDDEBUGGER_DATA64 KdDebuggerDataBlock;
DBGKD_GET_VERSION64 KdVersionBlock;
LIST_ENTRY64 KdpDebuggerDataListHead;

ULONG KeNumberProcessors = 1;
KPRCB *KiProcessorBlock[1];
ULONG NtBuildNumber = 0xF0000000u | MININT_BUILD_NUMBER; /* 0xF: a free build */
char NtBuildLab[] = "19041.1.amd64fre.minint.000000-0000";
ULONG CmNtCSDVersion; /* no service pack */
ULONG KeTimeIncrement = 10000000u / CLOCK_HZ;
PVOID MmHighestUserAddress = (PVOID)0x00007FFFFFFEFFFFull;
PVOID MmSystemRangeStart = (PVOID)MM_SYSTEM_RANGE_START;
ULONG64 MmUserProbeAddress = MM_USER_PROBE_ADDRESS;

/* Windows' 5-bit PTE protections to PAGE_* values: the low 3 bits the
   access, then no-cache (8), guard (16) and write-combine (24) variants. */
#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_WRITECOPY 0x08
#define PAGE_EXECUTE 0x10
#define PAGE_EXECUTE_READ 0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define PAGE_EXECUTE_WRITECOPY 0x80
#define PAGE_GUARD 0x100
#define PAGE_NOCACHE 0x200
#define PAGE_WRITECOMBINE 0x400
#define MM_ACCESS(x)                                                                                           \
    PAGE_NOACCESS, PAGE_READONLY | (x), PAGE_EXECUTE | (x), PAGE_EXECUTE_READ | (x), PAGE_READWRITE | (x),     \
        PAGE_WRITECOPY | (x), PAGE_EXECUTE_READWRITE | (x), PAGE_EXECUTE_WRITECOPY | (x)
ULONG MmProtectToValue[32] = {MM_ACCESS(0), MM_ACCESS(PAGE_NOCACHE), MM_ACCESS(PAGE_GUARD),
                              MM_ACCESS(PAGE_WRITECOMBINE)};

extern char __ImageBase[];

#define A(x) ((ULONG64)(x))

INITCODE void KdInitSystem(LOADER_PARAMETER_BLOCK *lb) {
    (void)lb;
    KiProcessorBlock[0] = &KiInitialPcr.Prcb;
    KDDEBUGGER_DATA64 *d = &KdDebuggerDataBlock;
    d->Header.OwnerTag = KDBG_TAG;
    d->Header.Size = sizeof(*d);
    /* The debugger walks KdVersionBlock.DebuggerDataList to find it. */
    KdpDebuggerDataListHead.Flink = KdpDebuggerDataListHead.Blink = A(&d->Header.List);
    d->Header.List.Flink = d->Header.List.Blink = A(&KdpDebuggerDataListHead);

    d->KernBase = A(__ImageBase);
    d->PsLoadedModuleList = A(&PsLoadedModuleList);
    d->PsActiveProcessHead = A(&PsActiveProcessHead);
    d->ExpSystemResourcesList = A(&ExpSystemResourcesList);
    d->KeTimeIncrement = A(&KeTimeIncrement);
    d->ObpTypeObjectType = A(&ObpTypeObjectType);
    d->MmPfnDatabase = A(&MmPfnDatabase);
    d->MmNumberOfPagingFiles = A(&MiSystemPartition.Vp.NumberOfPagingFiles);
    d->MmLowestPhysicalPage = A(&MiSystemPartition.Vp.LowestPhysicalPage);
    d->MmHighestPhysicalPage = A(&MiSystemPartition.Vp.HighestPhysicalPage);
    d->MmNumberOfPhysicalPages = A(&MiSystemPartition.Vp.NumberOfPhysicalPages);
    d->MmFreePageListHead = A(&MmFreePageListHead);
    d->MmStandbyPageListHead = A(&MmStandbyPageListHead);
    d->MmModifiedPageListHead = A(&MmModifiedPageListHead);
    d->MmAvailablePages = A(&MiSystemPartition.Vp.AvailablePages);
    d->MmHighestUserAddress = A(&MmHighestUserAddress);
    d->MmSystemRangeStart = A(&MmSystemRangeStart);
    d->MmUserProbeAddress = A(&MmUserProbeAddress);
    d->NtBuildLab = A(NtBuildLab);
    d->KiNormalSystemCall = A(KiSystemCall64);
    d->KiProcessorBlock = A(KiProcessorBlock);
    d->CmNtCSDVersion = A(&CmNtCSDVersion);

    d->OffsetKThreadTeb = offsetof(KTHREAD, Teb);
    d->OffsetKThreadKernelStack = offsetof(KTHREAD, KernelStack);
    d->OffsetKThreadInitialStack = offsetof(KTHREAD, InitialStack);
    d->OffsetKThreadApcProcess = offsetof(KTHREAD, ApcState.Process);
    d->OffsetKThreadState = offsetof(KTHREAD, State);
    d->SizeEProcess = sizeof(EPROCESS);
    d->OffsetEprocessPeb = offsetof(EPROCESS, Peb);
    d->OffsetEprocessParentCID = offsetof(EPROCESS, InheritedFromUniqueProcessId);
    d->OffsetEprocessDirectoryTableBase = offsetof(EPROCESS, Pcb.DirectoryTableBase);
    d->SizePrcb = sizeof(KPRCB);
    d->OffsetPrcbCurrentThread = offsetof(KPRCB, CurrentThread);
    d->OffsetPrcbNumber = offsetof(KPRCB, Number);
    d->SizeEThread = sizeof(ETHREAD);
    if (MiState.Hardware.InvalidPteMask) {
        d->L1tfHighPhysicalBitIndex = (UCHAR)(KiImplementedPhysicalBits - 1);
        d->L1tfSwizzleBitIndex = 4; /* SwizzleBit */
    }
    d->SizePcr = sizeof(KPCR);
    d->OffsetPcrSelfPcr = offsetof(KPCR, Self);
    d->OffsetPcrCurrentPrcb = offsetof(KPCR, CurrentPrcb);
    d->OffsetPcrContainedPrcb = offsetof(KPCR, Prcb);
    d->GdtR0Code = KGDT64_R0_CODE;
    d->GdtR0Data = KGDT64_R0_DATA;
    d->GdtR3Code = KGDT64_R3_CODE | RPL_MASK;
    d->GdtR3Data = KGDT64_R3_DATA | RPL_MASK;
    d->GdtTss = KGDT64_SYS_TSS;
    d->Gdt64R3CmCode = KGDT64_R3_CMCODE | RPL_MASK;
    d->OffsetKThreadStackLimit = offsetof(KTHREAD, StackLimit);
    d->OffsetKThreadStackBase = offsetof(KTHREAD, StackBase);
    d->OffsetPrcbIdleThread = offsetof(KPRCB, IdleThread);
    d->OffsetKThreadWaitReason = offsetof(KTHREAD, WaitReason);
    d->PteBase = MmPteBase;

    DBGKD_GET_VERSION64 *v = &KdVersionBlock;
    v->MajorVersion = 0xF;
    v->MinorVersion = MININT_BUILD_NUMBER;
    v->ProtocolVersion = 6;
    v->KdSecondaryVersion = 2;
    v->Flags = DBGKD_VERS_FLAG_DATA | DBGKD_VERS_FLAG_PTR64;
    v->MachineType = IMAGE_FILE_MACHINE_AMD64;
    v->MaxPacketType = 0x0C;
    v->MaxStateChange = 3;
    v->MaxManipulate = 0x33;
    v->KernBase = d->KernBase;
    v->PsLoadedModuleList = d->PsLoadedModuleList;
    v->DebuggerDataList = A(&KdpDebuggerDataListHead);

    DbgPrint("frost-guest: kdbg address=0x%llx owner-tag=KDBG size=0x%x kern-base=0x%llx "
             "ps-loaded-module-list=0x%llx ps-active-process-head=0x%llx mm-pfn-database=0x%llx "
             "pfn-database=0x%llx pte-base=0x%llx build-lab=%s offset-eprocess-dtb=0x%x size-eprocess=0x%x\n",
             A(d), d->Header.Size, d->KernBase, d->PsLoadedModuleList, d->PsActiveProcessHead, d->MmPfnDatabase,
             A(MmPfnDatabase), d->PteBase, NtBuildLab, (ULONG)d->OffsetEprocessDirectoryTableBase,
             (ULONG)d->SizeEProcess);
    DbgPrint("frost-guest: kd-version-block address=0x%llx major=0x%x minor=%u machine=0x%x kern-base=0x%llx "
             "debugger-data-list=0x%llx\n",
             A(v), (ULONG)v->MajorVersion, (ULONG)v->MinorVersion, (ULONG)v->MachineType, v->KernBase,
             v->DebuggerDataList);
    DbgPrint("frost-guest: selfmap index=0x%x pte-base=0x%llx pde-base=0x%llx ppe-base=0x%llx pxe-base=0x%llx "
             "system-dtb=0x%llx\n",
             MiSelfMapIndex, MmPteBase, MmPdeBase, MmPpeBase, MmPxeBase, MmSystemDirectoryTableBase);
}
