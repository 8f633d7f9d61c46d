/*
 * Processes and threads: the Idle and System processes, kernel and user
 * threads, user processes loaded from C: with their own address space, and
 * the loaded module list.
 */
#include "ldr.h"
#include "token.h"

LIST_ENTRY PsActiveProcessHead = {&PsActiveProcessHead, &PsActiveProcessHead};
EPROCESS *PsInitialSystemProcess;
LIST_ENTRY PsLoadedModuleList = {&PsLoadedModuleList, &PsLoadedModuleList};
EPROCESS *PsIdleProcess;

/* Client IDs: process and thread ids share one counter, in steps of 4, as
   Windows' CID table hands them out. 0 is Idle and 4 is System. */
static ULONG64 PspNextCid = 0x40;

#define USER_STACK_BASE 0x0000000010000000ull
#define USER_STACK_SIZE 0x10000ull
#define MAX_IMAGE_FILE 0x100000ull

#define ProcessObject 3
#define ThreadObject 6

static void InitListHead(LIST_ENTRY *h) { h->Flink = h->Blink = h; }
static void InsertTailList(LIST_ENTRY *head, LIST_ENTRY *e) {
    e->Flink = head;
    e->Blink = head->Blink;
    head->Blink->Flink = e;
    head->Blink = e;
}

EPROCESS *PsGetCurrentProcess(void) {
    KTHREAD *t = KeGetCurrentThread();
    return t ? CONTAINING_RECORD(t->Process, EPROCESS, Pcb) : NULL;
}

static EPROCESS *PspAllocateProcess(const char *name, ULONG64 pid, ULONG64 dtb, EPROCESS *parent) {
    EPROCESS *p = ObCreateObject(PsProcessType, sizeof(EPROCESS));
    p->Pcb.Header.Type = ProcessObject;
    p->Pcb.Header.Size = (UCHAR)(sizeof(KPROCESS) / 8);
    p->Pcb.DirectoryTableBase = dtb;
    p->Pcb.UserDirectoryTableBase = 0; /* no KVA shadow */
    InitListHead(&p->Pcb.ThreadListHead);
    InitListHead(&p->Pcb.ReadyListHead);
    InitListHead(&p->Pcb.ProfileListHead);
    InitListHead(&p->ThreadListHead);
    p->UniqueProcessId = (HANDLE)pid;
    p->InheritedFromUniqueProcessId = parent ? parent->UniqueProcessId : 0;
    p->OwnerProcessId = (ULONG64)p->InheritedFromUniqueProcessId; /* its creator */
    p->CreateTime.QuadPart = KeQuerySystemTime();
    p->ExitStatus = STATUS_PENDING; /* until it exits */
    p->LastThreadExitStatus = STATUS_PENDING;
    p->Cookie = (ULONG)RtlRandom();
    p->DefaultPagePriority = 5; /* MEMORY_PRIORITY_NORMAL */
    p->DefaultIoPriority = 2;   /* IoPriorityNormal */
    p->SystemProcess = parent == NULL; /* Idle and System: the kernel's own address space */
    SIZE_T n = RtlStringLength(name);
    memcpy(p->ImageFileName, name, n < 14 ? n : 14);
    SeAssignPrimaryToken(p, parent);
    return p;
}

static void PspInsertProcess(EPROCESS *p) {
    InsertTailList(&PsActiveProcessHead, &p->ActiveProcessLinks);
    p->ProcessInserted = 1;
    DbgPrint("frost-guest: process pid=%llu name=%s dtb=0x%llx parent=%llu create-time=0x%llx exit-status=0x%x "
             "image-path-hash=0x%x section-base=0x%llx\n",
             (ULONG64)p->UniqueProcessId, (const char *)p->ImageFileName, p->Pcb.DirectoryTableBase,
             (ULONG64)p->InheritedFromUniqueProcessId, (ULONG64)p->CreateTime.QuadPart, (ULONG)p->ExitStatus,
             p->ImagePathHash, (ULONG64)p->SectionBaseAddress);
}

ETHREAD *PspCreateThread(EPROCESS *p, void (*start)(PVOID), PVOID ctx) {
    ETHREAD *t = ObCreateObject(PsThreadType, sizeof(ETHREAD));
    t->Tcb.Header.Type = ThreadObject;
    t->Tcb.Header.Size = (UCHAR)(sizeof(KTHREAD) / 8);
    t->CreateTime.QuadPart = KeQuerySystemTime();
    UCHAR *stack = ExAllocatePoolWithTag(NonPagedPool, KERNEL_STACK_SIZE, 'katS');
    t->Tcb.StackLimit = stack;
    InitListHead(&t->Tcb.MutantListHead);
    t->Tcb.StackBase = stack + KERNEL_STACK_SIZE;
    t->Tcb.InitialStack = stack + KERNEL_STACK_SIZE;
    /* The first KiSwapContext into this thread pops these and returns to
       KiThreadStartup, which calls start(ctx). */
    ULONG64 *sp = (ULONG64 *)(stack + KERNEL_STACK_SIZE - 0x100);
    for (int i = 0; i < 8; i++) sp[i] = 0;
    sp[3] = (ULONG64)start; /* r12 */
    sp[2] = (ULONG64)ctx;   /* r13 */
    sp[8] = (ULONG64)KiThreadStartup;
    t->Tcb.KernelStack = sp;
    t->Tcb.Process = &p->Pcb;
    t->Tcb.ApcState.Process = &p->Pcb;
    InitListHead(&t->Tcb.ApcState.ApcListHead[0]);
    InitListHead(&t->Tcb.ApcState.ApcListHead[1]);
    t->StartAddress = (PVOID)start;
    t->Cid.UniqueProcess = p->UniqueProcessId;
    t->Cid.UniqueThread = (HANDLE)PspNextCid;
    PspNextCid += 4;
    InsertTailList(&p->Pcb.ThreadListHead, &t->Tcb.ThreadListEntry);
    InsertTailList(&p->ThreadListHead, &t->ThreadListEntry);
    p->ActiveThreads++;
    KiReadyThread(&t->Tcb);
    return t;
}

/* ---- user processes -------------------------------------------------------- */

typedef struct _PSP_USER_START {
    ULONG64 Entry;
    ULONG64 Stack;
    ULONG64 Peb;
} PSP_USER_START;

/* A new process's first thread: the loader's in-process checks
   (ldrinit.c), then ring 3. A process whose modules are not images ends
   with the loader's status, as Windows' does. */
static void PspUserThreadStartup(PVOID ctx) {
    PSP_USER_START *s = ctx;
    NTSTATUS st = LdrpCheckModuleHeaders((PEB *)s->Peb);
    if (!NT_SUCCESS(st)) {
        EPROCESS *p = PsGetCurrentProcess();
        DbgPrint("frost-guest: ldr-error pid=%llu status=0x%08x\n", (ULONG64)p->UniqueProcessId, (ULONG)st);
        p->ExitStatus = st;
        p->ExitTime.QuadPart = KeQuerySystemTime();
        KiTerminateCurrentThread();
    }
    /* The entry is entered as if called, with its return-address slot at
       [rsp] holding 0: the end of the stack, where a debugger's unwind of
       the thread stops (the stack is demand-zero; this makes it so
       whatever the page held). */
    if (!MmProbeUserRange((PVOID)s->Stack, sizeof(ULONG64), TRUE)) KiTerminateCurrentThread();
    *(volatile ULONG64 *)s->Stack = 0;
    KiStartUserThread(s->Entry, s->Stack, s->Peb);
}

static ULONG Rd32(const UCHAR *p) { return (ULONG)p[0] | ((ULONG)p[1] << 8) | ((ULONG)p[2] << 16) | ((ULONG)p[3] << 24); }

/* Maps a fresh zeroed user page at va (resident, in the working set) and
   returns its kernel view. */
UCHAR *PspMapUserPage(EPROCESS *p, ULONG64 va, ULONG protection) {
    MMPTE *pte = MiGetPteAddressCreate(p->Pcb.DirectoryTableBase, va, 0);
    ULONG64 pa = MiAllocatePhysicalPage();
    MMPFN *pf = MI_PFN(pa >> PAGE_SHIFT);
    pf->PteAddress = pte;
    pf->OriginalPte.u.Long = MiMakeDemandZeroPte(protection);
    pf->u2.ShareCount = 1;
    pf->u3.e1.Modified = 1; /* its content exists nowhere else */
    *pte = MiMakeValidPte(pa, TRUE, MiProtectionWritable(protection), MiProtectionExecutable(protection));
    MiAddToWorkingSet(p, va);
    return MmGetVirtualForPhysical(pa);
}

static ULONG PspSectionProtection(ULONG ch) {
    BOOLEAN x = (ch & 0x20000000u) != 0, w = (ch & 0x80000000u) != 0;
    if (x) return w ? MM_EXECUTE_READWRITE : MM_EXECUTE_READ;
    return w ? MM_READWRITE : MM_READONLY;
}

/* Loads a PE32+ image file into p at its preferred base, as private pages:
   mini-NT's process loader copies the exe rather than mapping an image
   section (its DLLs and swapper's view are where sections are exercised).
   Exes are linked /fixed, so there is nothing to relocate; their imports
   are snapped in the copy first (ldr.c), which maps the DLLs. */
static NTSTATUS PspMapImage(EPROCESS *p, FROSTFS_ENTRY *file, PSP_PE *pe, PSP_LOADED_DLLS *dlls) {
    if (file->FileSize < 0x200 || file->FileSize > MAX_IMAGE_FILE) return STATUS_INVALID_IMAGE_FORMAT;
    UCHAR *img = ExAllocatePoolWithTag(NonPagedPool, file->FileSize, 'gmIP');
    NTSTATUS st = FsRead(file, 0, img, file->FileSize);
    if (NT_SUCCESS(st)) st = PspParsePe(img, file->FileSize, pe);
    if (!NT_SUCCESS(st)) return st;
    ULONG64 imageBase = pe->ImageBase;
    if (pe->SizeOfHeaders > PAGE_SIZE || pe->SizeOfImage > MAX_IMAGE_FILE) return STATUS_INVALID_IMAGE_FORMAT;
    st = PspSnapImports(p, pe, dlls);
    if (!NT_SUCCESS(st)) return st;

    memcpy(PspMapUserPage(p, imageBase, MM_READONLY), img, pe->SizeOfHeaders);
    for (USHORT i = 0; i < pe->NumberOfSections; i++) {
        UCHAR *s = pe->Sections + i * 40;
        ULONG vsize = Rd32(s + 8), va = Rd32(s + 12), rawsize = Rd32(s + 16), rawptr = Rd32(s + 20), ch = Rd32(s + 36);
        if (va < PAGE_SIZE || (va & (PAGE_SIZE - 1)) || va + vsize > pe->SizeOfImage ||
            (ULONG64)rawptr + rawsize > file->FileSize)
            return STATUS_INVALID_IMAGE_FORMAT;
        ULONG copy = rawsize < vsize ? rawsize : vsize;
        for (ULONG off = 0; off < vsize; off += PAGE_SIZE) {
            UCHAR *page = PspMapUserPage(p, imageBase + va + off, PspSectionProtection(ch));
            if (off < copy) memcpy(page, img + rawptr + off, copy - off < PAGE_SIZE ? copy - off : PAGE_SIZE);
        }
    }
    MiInsertVad(p, MiAllocateShortVad(imageBase, imageBase + pe->SizeOfImage, MM_EXECUTE_READWRITE, TRUE));
    return STATUS_SUCCESS;
}

NTSTATUS PspCreateUserProcess(const char *ntpath, SIZE_T len, EPROCESS *parent, EPROCESS **out, ETHREAD **thread) {
    return PspCreateUserProcessEx(ntpath, len, NULL, parent, out, thread);
}

/* Creates a process running the image at the NT path ntpath (\??\C:\...),
   with the command line commandLine (NULL: the image's DOS path). */
NTSTATUS PspCreateUserProcessEx(const char *ntpath, SIZE_T len, const char *commandLine, EPROCESS *parent,
                                EPROCESS **out, ETHREAD **thread) {
    DEVICE_OBJECT *dev;
    const char *rel;
    SIZE_T rellen;
    NTSTATUS st = IopResolveVolumePath(ntpath, len, &dev, &rel, &rellen);
    if (!NT_SUCCESS(st)) return st;
    ULONG index;
    FROSTFS_ENTRY *file = FsLookup(rel, rellen, &index);
    if (!file || !(file->Flags & FROSTFS_EXISTS)) return STATUS_OBJECT_NAME_NOT_FOUND;

    const char *name = rel + rellen;
    while (name > rel && name[-1] != '\\') name--;
    char shortName[16] = {0};
    for (SIZE_T i = 0; i < 15 && name + i < rel + rellen; i++) shortName[i] = name[i];
    /* The image's DOS path, as the process parameters and loader list name it. */
    char dosPath[100] = "C:";
    if (rellen + 3 > sizeof(dosPath)) return STATUS_OBJECT_NAME_INVALID;
    memcpy(dosPath + 2, rel, rellen);
    dosPath[rellen + 2] = 0;

    EPROCESS *p = PspAllocateProcess(shortName, PspNextCid, MiCreateProcessAddressSpace(), parent);
    PspNextCid += 4;
    p->ObjectTable = ExCreateHandleTable(p);
    p->HasAddressSpace = 1;
    p->AddressSpaceInitialized = 2;
    p->ImagePathHash = RtlHashAsciiPathUpcase(ntpath, len);
    MiInitializeWorkingSet(p);
    FILE_OBJECT *fo;
    st = IopCreateFileObject(dev, rel, rellen, index, FALSE, &fo);
    if (!NT_SUCCESS(st)) return st;
    p->ImageFilePointer = fo;
    SeInitializeProcessAuditName(p, fo);

    PSP_PE pe;
    PSP_LOADED_DLLS dlls;
    st = PspMapImage(p, file, &pe, &dlls);
    if (!NT_SUCCESS(st)) return st;
    p->SectionBaseAddress = (PVOID)pe.ImageBase;

    /* The stack is committed memory: its pages appear on first touch. */
    MiInsertVad(p, MiAllocateShortVad(USER_STACK_BASE, USER_STACK_BASE + USER_STACK_SIZE, MM_READWRITE, TRUE));

    if (!commandLine) commandLine = dosPath;
    st = PspCreatePeb(p, parent, dosPath, commandLine, &pe, &dlls);
    if (!NT_SUCCESS(st)) return st;

    PspInsertProcess(p);
    PSP_USER_START *start = ExAllocatePoolWithTag(NonPagedPool, sizeof(*start), 'rtSP');
    start->Entry = pe.ImageBase + pe.EntryRva;
    start->Stack = USER_STACK_BASE + USER_STACK_SIZE - 0x28; /* home space, as after a call */
    start->Peb = (ULONG64)p->Peb;
    ETHREAD *t = PspCreateThread(p, PspUserThreadStartup, start);
    t->Win32StartAddress = (PVOID)start->Entry;
    /* Before the thread first runs: interrupts are off in the kernel. */
    st = PspCreateTeb(p, t, USER_STACK_BASE + USER_STACK_SIZE, USER_STACK_BASE);
    if (!NT_SUCCESS(st)) KeBugCheckEx(PROCESS_INITIALIZATION_FAILED, (ULONG64)(ULONG)st, (ULONG64)p, 0, 0);
    PspReportUserEnvironment(p, t, dosPath, commandLine, &pe, &dlls);
    *out = p;
    *thread = t;
    return STATUS_SUCCESS;
}

/* mini-NT's NtCreateUserProcess takes only what smss needs: the image's NT
   path and the command line (Windows passes them in the
   RTL_USER_PROCESS_PARAMETERS its caller built; here the kernel builds
   those, with the caller's environment), and it returns process and
   thread handles. */
NTSTATUS NtCreateUserProcess(PHANDLE ProcessHandle, PHANDLE ThreadHandle, PUNICODE_STRING ImagePathName,
                             PUNICODE_STRING CommandLine) {
    if (!MmProbeUserRange(ProcessHandle, sizeof(HANDLE), TRUE) ||
        !MmProbeUserRange(ThreadHandle, sizeof(HANDLE), TRUE))
        return STATUS_ACCESS_VIOLATION;
    char path[260];
    SIZE_T len;
    NTSTATUS st = ExCaptureUnicodeToAscii(ImagePathName, path, sizeof(path), &len);
    if (!NT_SUCCESS(st)) return st;
    char cmd[260];
    SIZE_T cmdlen = 0;
    if (CommandLine) {
        if (!MmProbeUserRange(CommandLine, sizeof(UNICODE_STRING), FALSE)) return STATUS_ACCESS_VIOLATION;
        st = ExCaptureUnicodeToAscii(CommandLine, cmd, sizeof(cmd), &cmdlen);
        if (!NT_SUCCESS(st)) return st;
    }
    cmd[cmdlen] = 0;
    EPROCESS *p;
    ETHREAD *t;
    st = PspCreateUserProcessEx(path, len, CommandLine ? cmd : NULL, PsGetCurrentProcess(), &p, &t);
    if (!NT_SUCCESS(st)) return st;
    HANDLE ph, th;
    st = ObInsertObject(p, 0x1fffff, &ph);
    if (NT_SUCCESS(st)) st = ObInsertObject(t, 0x1fffff, &th);
    if (!NT_SUCCESS(st)) return st;
    *ProcessHandle = ph;
    *ThreadHandle = th;
    return STATUS_SUCCESS;
}

typedef struct _PROCESS_BASIC_INFORMATION {
    NTSTATUS ExitStatus;
    PEB *PebBaseAddress;
    ULONG64 AffinityMask;
    LONG BasePriority;
    ULONG64 UniqueProcessId;
    ULONG64 InheritedFromUniqueProcessId;
} PROCESS_BASIC_INFORMATION;

/* ProcessBasicInformation (class 0) of the calling process only. */
NTSTATUS NtQueryInformationProcess(HANDLE ProcessHandle, ULONG ProcessInformationClass, PVOID ProcessInformation,
                                   ULONG ProcessInformationLength, PULONG ReturnLength) {
    if (ProcessHandle && ProcessHandle != (HANDLE)-1) return STATUS_INVALID_HANDLE;
    if (ProcessInformationClass != 0) return STATUS_INVALID_PARAMETER;
    if (ProcessInformationLength < sizeof(PROCESS_BASIC_INFORMATION)) return STATUS_BUFFER_TOO_SMALL;
    if (!MmProbeUserRange(ProcessInformation, sizeof(PROCESS_BASIC_INFORMATION), TRUE) ||
        (ReturnLength && !MmProbeUserRange(ReturnLength, sizeof(ULONG), TRUE)))
        return STATUS_ACCESS_VIOLATION;
    EPROCESS *p = PsGetCurrentProcess();
    PROCESS_BASIC_INFORMATION *pbi = ProcessInformation;
    pbi->ExitStatus = p->ExitStatus;
    pbi->PebBaseAddress = p->Peb;
    pbi->AffinityMask = 1;
    pbi->BasePriority = 8;
    pbi->UniqueProcessId = (ULONG64)p->UniqueProcessId;
    pbi->InheritedFromUniqueProcessId = (ULONG64)p->InheritedFromUniqueProcessId;
    if (ReturnLength) *ReturnLength = sizeof(PROCESS_BASIC_INFORMATION);
    return STATUS_SUCCESS;
}

NTSTATUS NtTerminateProcess(HANDLE ProcessHandle, NTSTATUS ExitStatus) {
    /* Only the calling process can end itself here (handle NULL or -1). */
    if (ProcessHandle && ProcessHandle != (HANDLE)-1) return STATUS_INVALID_HANDLE;
    EPROCESS *p = PsGetCurrentProcess();
    p->ExitStatus = ExitStatus;
    p->LastThreadExitStatus = ExitStatus;
    p->ProcessExiting = 1;
    p->ExitTime.QuadPart = KeQuerySystemTime();
    KiTerminateCurrentThread();
}

/* ---- initialisation ---------------------------------------------------- */

void PsInitLoadedModuleList(LOADER_PARAMETER_BLOCK *lb) {
    for (ULONG i = 0; i < lb->ModuleCount; i++) {
        LOADER_MODULE *m = &lb->Modules[i];
        KLDR_DATA_TABLE_ENTRY *e = ExAllocatePoolWithTag(NonPagedPool, sizeof(*e), 'dLmM');
        e->DllBase = (PVOID)m->DllBase;
        e->EntryPoint = (PVOID)m->EntryPoint;
        e->SizeOfImage = (ULONG)m->SizeOfImage;
        e->SizeOfImageNotRounded = (ULONG)m->SizeOfImage;
        e->LoadCount = 1;
        char full[96] = "\\SystemRoot\\system32\\";
        SIZE_T n = RtlStringLength(full), k = RtlStringLength(m->BaseDllName);
        memcpy(full + n, m->BaseDllName, k + 1);
        RtlInitUnicodeFromAscii(&e->FullDllName, full);
        RtlInitUnicodeFromAscii(&e->BaseDllName, m->BaseDllName);
        InsertTailList(&PsLoadedModuleList, &e->InLoadOrderLinks);
    }
}

void PsInitSystem(LOADER_PARAMETER_BLOCK *lb, void (*phase1)(PVOID)) {
    PsInitLoadedModuleList(lb);

    /* The boot thread becomes the Idle process's thread. */
    PsIdleProcess = PspAllocateProcess("Idle", 0, MmSystemDirectoryTableBase, NULL);
    ETHREAD *idle = ObCreateObject(PsThreadType, sizeof(ETHREAD));
    idle->Tcb.Header.Type = ThreadObject;
    idle->Tcb.Process = &PsIdleProcess->Pcb;
    idle->Tcb.ApcState.Process = &PsIdleProcess->Pcb;
    InitListHead(&idle->Tcb.MutantListHead);
    idle->Tcb.InitialStack = (PVOID)lb->BootStackTop;
    idle->Tcb.StackBase = (PVOID)lb->BootStackTop;
    idle->Tcb.StackLimit = (PVOID)(lb->BootStackTop - 0x4000);
    idle->Tcb.State = Running;
    InsertTailList(&PsIdleProcess->Pcb.ThreadListHead, &idle->Tcb.ThreadListEntry);
    InsertTailList(&PsIdleProcess->ThreadListHead, &idle->ThreadListEntry);
    KiInitialPcr.Prcb.CurrentThread = &idle->Tcb;
    KiInitialPcr.Prcb.IdleThread = &idle->Tcb;

    EPROCESS *system = PspAllocateProcess("System", 4, MmSystemDirectoryTableBase, NULL);
    system->ObjectTable = ObpKernelHandleTable;
    ObpKernelHandleTable->QuotaProcess = system;
    ObpKernelHandleTable->UniqueProcessId = 4;
    PsInitialSystemProcess = system;
    PspInsertProcess(system);
    PspCreateThread(system, phase1, lb);
}
