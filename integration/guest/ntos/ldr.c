/*
 * The process loader's user-mode half: what Windows splits between the
 * kernel (PEB, TEB, the process parameters, mapping ntdll.dll) and ntdll's
 * LdrpInitializeProcess (mapping the imported DLLs, snapping the exe's
 * imports, the PEB_LDR_DATA module lists). mini-NT has no user-mode
 * loader, so the kernel does all of it while it creates the process, and
 * user code finds everything in place at its first instruction.
 *
 * DLLs are image sections, one per DLL shared by every process that maps
 * it (as Windows' KnownDlls), each mapped at its preferred base: mini-NT
 * relocates nothing. They must import nothing themselves; only the exe's
 * imports are snapped, in the exe's private copy before it is mapped.
 *
 * User memory built here:
 *   - the process parameters, their strings and the environment block, in
 *     a region of their own at USER_PARAMS_BASE (Windows puts them in one
 *     allocation too, normalized: every pointer absolute);
 *   - PEB_LDR_DATA and one LDR_DATA_TABLE_ENTRY per module with its names,
 *     in the "process heap" at USER_HEAP_BASE (where ntdll's loader
 *     allocates them);
 *   - the PEB page, and one TEB page per thread below it.
 */
#include "ldr.h"

/* PEB_LDR_DATA.Initialized, not the thread state. */
#undef Initialized

#define USER_PARAMS_BASE 0x0000000000020000ull
#define USER_PARAMS_PAGES 2
#define USER_HEAP_BASE 0x0000000000030000ull
#define USER_HEAP_PAGES 2
#define USER_PEB_ADDRESS 0x000000007ffdf000ull
#define MAX_ARENA_PAGES 4
#define MAX_KNOWN_DLLS 8
#define MAX_DLL_FILE 0x100000ull
#define MAX_IMPORTS 256
#define MAX_ENVIRONMENT 2048 /* bytes of the parent's block a child inherits */
#define SYSTEM32 "C:\\Windows\\System32\\"
#define SYSTEM32_REL "\\Windows\\System32\\"

static USHORT Rd16(const UCHAR *p) { return (USHORT)(p[0] | (p[1] << 8)); }
static ULONG Rd32(const UCHAR *p) { return (ULONG)p[0] | ((ULONG)p[1] << 8) | ((ULONG)p[2] << 16) | ((ULONG)p[3] << 24); }

/* ---- PE files ------------------------------------------------------------- */

NTSTATUS PspParsePe(UCHAR *img, ULONG64 size, PSP_PE *pe) {
    if (size < 0x200) return STATUS_INVALID_IMAGE_FORMAT;
    ULONG lfanew = Rd32(img + 0x3c);
    if (img[0] != 'M' || img[1] != 'Z' || lfanew > size - 0x108) return STATUS_INVALID_IMAGE_FORMAT;
    UCHAR *nt = img + lfanew, *opt = nt + 24;
    if (Rd32(nt) != 0x4550 || Rd16(nt + 4) != 0x8664 || Rd16(opt) != 0x20b) return STATUS_INVALID_IMAGE_FORMAT;
    pe->Image = img;
    pe->Size = size;
    pe->Opt = opt;
    pe->NumberOfSections = Rd16(nt + 6);
    pe->Sections = opt + Rd16(nt + 20);
    pe->TimeDateStamp = Rd32(nt + 8);
    pe->ImageBase = *(ULONG64 *)(opt + 24);
    pe->EntryRva = Rd32(opt + 16);
    pe->SizeOfImage = Rd32(opt + 56);
    pe->SizeOfHeaders = Rd32(opt + 60);
    if ((ULONG64)(pe->Sections - img) + pe->NumberOfSections * 40ull > size || pe->ImageBase & (PAGE_SIZE - 1) ||
        pe->ImageBase + pe->SizeOfImage > MM_USER_PROBE_ADDRESS)
        return STATUS_INVALID_IMAGE_FORMAT;
    return STATUS_SUCCESS;
}

/* Data directory i: its RVA and size. */
static void PspDirectory(PSP_PE *pe, ULONG i, ULONG *rva, ULONG *size) {
    ULONG count = Rd32(pe->Opt + 108);
    *rva = *size = 0;
    if (i < count) {
        *rva = Rd32(pe->Opt + 112 + i * 8);
        *size = Rd32(pe->Opt + 112 + i * 8 + 4);
    }
}

/* The file bytes behind len bytes at rva, or NULL when they are not all in
   the file (or cross a section's raw data). */
static UCHAR *PspRva(PSP_PE *pe, ULONG rva, ULONG len) {
    ULONG64 end = (ULONG64)rva + len;
    if (end <= pe->SizeOfHeaders && end <= pe->Size) return pe->Image + rva;
    for (USHORT i = 0; i < pe->NumberOfSections; i++) {
        UCHAR *s = pe->Sections + i * 40;
        ULONG va = Rd32(s + 12), rawsize = Rd32(s + 16), rawptr = Rd32(s + 20);
        if (rva >= va && end <= (ULONG64)va + rawsize) {
            ULONG64 off = (ULONG64)rawptr + (rva - va);
            return off + len <= pe->Size ? pe->Image + off : NULL;
        }
    }
    return NULL;
}

/* A NUL-terminated name at rva, at most cap bytes with the NUL. */
static const char *PspRvaString(PSP_PE *pe, ULONG rva, ULONG cap) {
    for (ULONG n = 1; n <= cap; n++) {
        UCHAR *p = PspRva(pe, rva, n);
        if (!p) return NULL;
        if (p[n - 1] == 0) return (const char *)p;
    }
    return NULL;
}

/* ---- known DLLs: one image section each, shared by every process ------- */

typedef struct _PSP_DLL {
    char Name[32]; /* as the import names it, e.g. ntdll.dll */
    CONTROL_AREA *ControlArea;
    UCHAR *File; /* the whole file, for its exports */
    PSP_PE Pe;
} PSP_DLL;

static PSP_DLL PspKnownDlls[MAX_KNOWN_DLLS];
static ULONG PspKnownDllCount;

static NTSTATUS PspLoadDll(const char *name, PSP_DLL **out) {
    SIZE_T n = RtlStringLength(name);
    for (ULONG i = 0; i < PspKnownDllCount; i++) {
        if (RtlStringLength(PspKnownDlls[i].Name) == n && RtlEqualAsciiInsensitive(PspKnownDlls[i].Name, name, n)) {
            *out = &PspKnownDlls[i];
            return STATUS_SUCCESS;
        }
    }
    if (PspKnownDllCount == MAX_KNOWN_DLLS || n >= sizeof(PspKnownDlls[0].Name)) return STATUS_INSUFFICIENT_RESOURCES;
    char rel[64] = SYSTEM32_REL;
    SIZE_T k = RtlStringLength(rel);
    memcpy(rel + k, name, n + 1);
    ULONG index;
    FROSTFS_ENTRY *e = FsLookup(rel, k + n, &index);
    if (!e || !(e->Flags & FROSTFS_EXISTS)) return STATUS_OBJECT_NAME_NOT_FOUND; /* STATUS_DLL_NOT_FOUND */
    if (e->FileSize > MAX_DLL_FILE) return STATUS_INVALID_IMAGE_FORMAT;
    PSP_DLL *d = &PspKnownDlls[PspKnownDllCount];
    d->File = ExAllocatePoolWithTag(NonPagedPool, e->FileSize, 'dLsP');
    NTSTATUS st = FsRead(e, 0, d->File, e->FileSize);
    if (NT_SUCCESS(st)) st = PspParsePe(d->File, e->FileSize, &d->Pe);
    if (!NT_SUCCESS(st)) return st;
    ULONG rva, size;
    PspDirectory(&d->Pe, 1, &rva, &size);
    if (size) return STATUS_INVALID_IMAGE_FORMAT; /* a DLL that imports: see the top of this file */
    FILE_OBJECT *fo;
    st = IopCreateFileObject(IoBootVolume, rel, k + n, index, FALSE, &fo);
    if (NT_SUCCESS(st)) st = MmCreateImageSection(fo, &d->ControlArea);
    if (!NT_SUCCESS(st)) return st;
    memcpy(d->Name, name, n + 1);
    PspKnownDllCount++;
    *out = d;
    return STATUS_SUCCESS;
}

/* The VA of the export called name, from the DLL's export directory. */
static NTSTATUS PspFindExport(PSP_DLL *d, const char *name, ULONG64 *va) {
    ULONG dirRva, dirSize;
    PspDirectory(&d->Pe, 0, &dirRva, &dirSize);
    UCHAR *dir = PspRva(&d->Pe, dirRva, 40);
    if (!dir) return STATUS_INVALID_IMAGE_FORMAT;
    ULONG nfun = Rd32(dir + 20), nnames = Rd32(dir + 24);
    UCHAR *funcs = PspRva(&d->Pe, Rd32(dir + 28), nfun * 4), *names = PspRva(&d->Pe, Rd32(dir + 32), nnames * 4);
    UCHAR *ords = PspRva(&d->Pe, Rd32(dir + 36), nnames * 2);
    if (!funcs || !names || !ords) return STATUS_INVALID_IMAGE_FORMAT;
    SIZE_T n = RtlStringLength(name);
    for (ULONG i = 0; i < nnames; i++) {
        const char *s = PspRvaString(&d->Pe, Rd32(names + i * 4), 256);
        if (!s || RtlStringLength(s) != n || RtlCompareMemory(s, name, n) != 0) continue;
        USHORT ord = Rd16(ords + i * 2);
        if (ord >= nfun) return STATUS_INVALID_IMAGE_FORMAT;
        ULONG rva = Rd32(funcs + ord * 4);
        if (rva >= dirRva && rva < dirRva + dirSize) return STATUS_INVALID_IMAGE_FORMAT; /* no forwarders */
        *va = d->Pe.ImageBase + rva;
        return STATUS_SUCCESS;
    }
    return STATUS_OBJECT_NAME_NOT_FOUND; /* STATUS_ENTRYPOINT_NOT_FOUND */
}

static NTSTATUS PspAddDll(EPROCESS *p, PSP_LOADED_DLLS *dlls, const char *name) {
    PSP_DLL *d;
    NTSTATUS st = PspLoadDll(name, &d);
    if (!NT_SUCCESS(st)) return st;
    for (ULONG i = 0; i < dlls->Count; i++)
        if (dlls->Dll[i] == d) return STATUS_SUCCESS;
    if (dlls->Count == MAX_PROCESS_DLLS) return STATUS_INSUFFICIENT_RESOURCES;
    ULONG64 size;
    st = MmMapImageView(p, d->ControlArea, d->Pe.ImageBase, &size);
    if (!NT_SUCCESS(st)) return st;
    dlls->Dll[dlls->Count++] = d;
    return STATUS_SUCCESS;
}

/* Maps ntdll.dll (every process has it, as on Windows) and the DLLs the exe
   imports into p, and writes the imports' addresses into the exe's IAT in
   its file image img, before the exe is copied into p. */
NTSTATUS PspSnapImports(EPROCESS *p, PSP_PE *exe, PSP_LOADED_DLLS *dlls) {
    dlls->Count = 0;
    NTSTATUS st = PspAddDll(p, dlls, "ntdll.dll");
    if (!NT_SUCCESS(st)) return st;
    ULONG rva, size;
    PspDirectory(exe, 1, &rva, &size);
    ULONG imports = 0;
    for (ULONG off = 0; size && off + 20 <= size; off += 20) {
        UCHAR *desc = PspRva(exe, rva + off, 20);
        if (!desc) return STATUS_INVALID_IMAGE_FORMAT;
        ULONG lookup = Rd32(desc), nameRva = Rd32(desc + 12), iat = Rd32(desc + 16);
        if (!nameRva && !iat) break;
        const char *name = PspRvaString(exe, nameRva, 32);
        if (!name) return STATUS_INVALID_IMAGE_FORMAT;
        st = PspAddDll(p, dlls, name);
        if (!NT_SUCCESS(st)) return st;
        PSP_DLL *d = NULL;
        for (ULONG i = 0; i < dlls->Count; i++)
            if (RtlEqualAsciiInsensitive(dlls->Dll[i]->Name, name, RtlStringLength(name) + 1)) d = dlls->Dll[i];
        if (!d) return STATUS_INVALID_IMAGE_FORMAT;
        if (!lookup) lookup = iat;
        for (ULONG i = 0;; i++) {
            if (++imports > MAX_IMPORTS) return STATUS_INVALID_IMAGE_FORMAT;
            UCHAR *thunk = PspRva(exe, lookup + i * 8, 8), *slot = PspRva(exe, iat + i * 8, 8);
            if (!thunk || !slot) return STATUS_INVALID_IMAGE_FORMAT;
            ULONG64 v = *(ULONG64 *)thunk;
            if (!v) break;
            if (v >> 63) return STATUS_INVALID_IMAGE_FORMAT; /* by ordinal: mini-NT's images import by name */
            const char *fn = PspRvaString(exe, (ULONG)v + 2, 256);
            if (!fn) return STATUS_INVALID_IMAGE_FORMAT;
            ULONG64 va;
            st = PspFindExport(d, fn, &va);
            if (!NT_SUCCESS(st)) return st;
            *(ULONG64 *)slot = va;
        }
    }
    return STATUS_SUCCESS;
}

/* ---- building user memory from the kernel ------------------------------ */

/* A committed private region of the new process that the kernel fills
   through the kernel views of its pages; nothing straddles a page. */
typedef struct _PSP_ARENA {
    EPROCESS *Process;
    ULONG64 Base;
    ULONG Pages;
    ULONG64 Used;
    UCHAR *Page[MAX_ARENA_PAGES];
} PSP_ARENA;

static void PspArenaInit(PSP_ARENA *a, EPROCESS *p, ULONG64 base, ULONG pages) {
    memset(a, 0, sizeof(*a));
    a->Process = p;
    a->Base = base;
    a->Pages = pages;
    MiInsertVad(p, MiAllocateShortVad(base, base + pages * PAGE_SIZE, MM_READWRITE, TRUE));
}

/* The kernel view of user VA va in the arena. */
static PVOID PspArenaKva(PSP_ARENA *a, ULONG64 va) {
    ULONG64 off = va - a->Base;
    return a->Page[off / PAGE_SIZE] + off % PAGE_SIZE;
}

/* Zeroed user memory; returns its user VA, or 0 when the arena is full. */
static ULONG64 PspArenaAlloc(PSP_ARENA *a, ULONG64 size) {
    ULONG64 off = (a->Used + 15) & ~15ull;
    if (size > PAGE_SIZE) return 0;
    if (off / PAGE_SIZE != (off + size - 1) / PAGE_SIZE) off = (off + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (off + size > a->Pages * PAGE_SIZE) return 0;
    ULONG i = (ULONG)(off / PAGE_SIZE);
    if (!a->Page[i]) a->Page[i] = PspMapUserPage(a->Process, a->Base + i * PAGE_SIZE, MM_READWRITE);
    a->Used = off + size;
    return a->Base + off;
}

/* A UNICODE_STRING (at kernel view us) of the ASCII s, its buffer (with a
   NUL) in the arena. */
static NTSTATUS PspArenaString(PSP_ARENA *a, UNICODE_STRING *us, const char *s, SIZE_T n) {
    ULONG64 va = PspArenaAlloc(a, (n + 1) * sizeof(WCHAR));
    if (!va) return STATUS_NO_MEMORY;
    WCHAR *w = PspArenaKva(a, va);
    for (SIZE_T i = 0; i < n; i++) w[i] = (WCHAR)(UCHAR)s[i];
    us->Buffer = (PWSTR)va;
    us->Length = (USHORT)(n * sizeof(WCHAR));
    us->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
    return STATUS_SUCCESS;
}

/* Appends the list entry at user VA entry to the list headed at user VA
   head; both in arena a. */
static void PspArenaInsertTail(PSP_ARENA *a, ULONG64 head, ULONG64 entry) {
    LIST_ENTRY *h = PspArenaKva(a, head), *e = PspArenaKva(a, entry);
    ULONG64 last = (ULONG64)h->Blink;
    LIST_ENTRY *l = PspArenaKva(a, last);
    e->Flink = (LIST_ENTRY *)head;
    e->Blink = (LIST_ENTRY *)last;
    l->Flink = (LIST_ENTRY *)entry;
    h->Blink = (LIST_ENTRY *)entry;
}

static void PspArenaInitList(PSP_ARENA *a, ULONG64 head) {
    LIST_ENTRY *h = PspArenaKva(a, head);
    h->Flink = h->Blink = (LIST_ENTRY *)head;
}

/* ---- process parameters and the environment ---------------------------- */

/* The environment smss gets from the kernel, as Windows' initial one. */
static const char PspInitialEnvironment[] = "Path=C:\\Windows\\System32\0SystemRoot=C:\\Windows\0SystemDrive=C:\0";

/* Copies the environment block of the calling process (when it is parent
   and has one) into env, or the initial environment; returns its size in
   WCHARs with both terminating NULs. */
static SIZE_T PspCaptureEnvironment(EPROCESS *parent, WCHAR *env, SIZE_T cap) {
    SIZE_T n = 0;
    if (parent && parent == PsGetCurrentProcess() && parent->Peb) {
        PEB *peb = parent->Peb;
        RTL_USER_PROCESS_PARAMETERS *pp = NULL;
        if (MmProbeUserRange(peb, sizeof(PEB), FALSE)) pp = peb->ProcessParameters;
        if (pp && MmProbeUserRange(pp, sizeof(*pp), FALSE) && pp->Environment) {
            const WCHAR *src = pp->Environment;
            for (; n + 2 <= cap; n++) {
                if (!MmProbeUserRange(src + n, sizeof(WCHAR), FALSE)) break;
                env[n] = src[n];
                if (n && env[n] == 0 && env[n - 1] == 0) return n + 1;
            }
        }
    }
    /* None (or none we could read whole): the initial environment. */
    for (n = 0; n < sizeof(PspInitialEnvironment) && n < cap; n++) env[n] = (WCHAR)(UCHAR)PspInitialEnvironment[n];
    return n;
}

/* ---- the whole environment of a new process ----------------------------- */

static const char *PspBaseName(const char *path) {
    const char *b = path;
    for (const char *s = path; *s; s++)
        if (*s == '\\') b = s + 1;
    return b;
}

static NTSTATUS PspLdrEntry(PSP_ARENA *heap, ULONG64 ldr, const char *full, ULONG64 base, ULONG size, ULONG64 entry,
                         ULONG stamp, BOOLEAN dll, ULONG64 *out) {
    ULONG64 va = PspArenaAlloc(heap, sizeof(LDR_DATA_TABLE_ENTRY));
    if (!va) return STATUS_NO_MEMORY;
    LDR_DATA_TABLE_ENTRY *e = PspArenaKva(heap, va);
    e->DllBase = (PVOID)base;
    e->EntryPoint = (PVOID)entry;
    e->SizeOfImage = size;
    e->TimeDateStamp = stamp;
    e->OriginalBase = base;
    e->ObsoleteLoadCount = 0xffff; /* static: never unloaded */
    e->ReferenceCount = 1;
    e->LoadReason = LoadReasonStaticDependency;
    e->LoadTime.QuadPart = (LONGLONG)KeTickCount;
    e->Flags = LDRP_ENTRY_PROCESSED | (dll ? LDRP_IMAGE_DLL | LDRP_PROCESS_ATTACH_CALLED : 0);
    const char *b = PspBaseName(full);
    /* Keep e's kernel view valid: the strings come after it in the arena,
       perhaps on another page, and are written through their own views. */
    UNICODE_STRING fullName, baseName;
    NTSTATUS st = PspArenaString(heap, &fullName, full, RtlStringLength(full));
    if (NT_SUCCESS(st)) st = PspArenaString(heap, &baseName, b, RtlStringLength(b));
    if (!NT_SUCCESS(st)) return st;
    e->FullDllName = fullName;
    e->BaseDllName = baseName;
    ULONG64 hash = va + offsetof(LDR_DATA_TABLE_ENTRY, HashLinks);
    PspArenaInitList(heap, hash);
    PspArenaInsertTail(heap, ldr + offsetof(PEB_LDR_DATA, InLoadOrderModuleList),
                       va + offsetof(LDR_DATA_TABLE_ENTRY, InLoadOrderLinks));
    PspArenaInsertTail(heap, ldr + offsetof(PEB_LDR_DATA, InMemoryOrderModuleList),
                       va + offsetof(LDR_DATA_TABLE_ENTRY, InMemoryOrderLinks));
    if (dll)
        PspArenaInsertTail(heap, ldr + offsetof(PEB_LDR_DATA, InInitializationOrderModuleList),
                           va + offsetof(LDR_DATA_TABLE_ENTRY, InInitializationOrderLinks));
    else
        PspArenaInitList(heap, va + offsetof(LDR_DATA_TABLE_ENTRY, InInitializationOrderLinks));
    *out = va;
    return STATUS_SUCCESS;
}

/* Builds p's process parameters, PEB and loader data. imagePath is the
   exe's DOS path (C:\...), commandLine the command line (ASCII). */
NTSTATUS PspCreatePeb(EPROCESS *p, EPROCESS *parent, const char *imagePath, const char *commandLine, PSP_PE *exe,
                      PSP_LOADED_DLLS *dlls) {
    /* The process parameters, normalized. */
    PSP_ARENA params;
    PspArenaInit(&params, p, USER_PARAMS_BASE, USER_PARAMS_PAGES);
    ULONG64 ppVa = PspArenaAlloc(&params, sizeof(RTL_USER_PROCESS_PARAMETERS));
    if (!ppVa) return STATUS_NO_MEMORY;
    RTL_USER_PROCESS_PARAMETERS *pp = PspArenaKva(&params, ppVa);
    pp->Flags = RTL_USER_PROC_PARAMS_NORMALIZED;
    UNICODE_STRING image, cmd, cwd, dllPath;
    NTSTATUS st = PspArenaString(&params, &image, imagePath, RtlStringLength(imagePath));
    if (NT_SUCCESS(st)) st = PspArenaString(&params, &cmd, commandLine, RtlStringLength(commandLine));
    if (NT_SUCCESS(st)) st = PspArenaString(&params, &cwd, SYSTEM32, RtlStringLength(SYSTEM32));
    if (NT_SUCCESS(st)) st = PspArenaString(&params, &dllPath, SYSTEM32, RtlStringLength(SYSTEM32) - 1);
    if (!NT_SUCCESS(st)) return st;
    pp->ImagePathName = image;
    pp->CommandLine = cmd;
    pp->CurrentDirectory.DosPath = cwd;
    pp->DllPath = dllPath;
    static WCHAR env[MAX_ENVIRONMENT / sizeof(WCHAR)];
    SIZE_T envChars = PspCaptureEnvironment(parent, env, sizeof(env) / sizeof(WCHAR));
    ULONG64 envVa = PspArenaAlloc(&params, envChars * sizeof(WCHAR));
    if (!envVa) return STATUS_NO_MEMORY;
    memcpy(PspArenaKva(&params, envVa), env, envChars * sizeof(WCHAR));
    pp->Environment = (PVOID)envVa;
    pp->EnvironmentSize = envChars * sizeof(WCHAR);
    pp->Length = pp->MaximumLength = (ULONG)params.Used;

    /* The loader data: the exe, then the DLLs in load order. */
    PSP_ARENA heap;
    PspArenaInit(&heap, p, USER_HEAP_BASE, USER_HEAP_PAGES);
    ULONG64 ldrVa = PspArenaAlloc(&heap, sizeof(PEB_LDR_DATA));
    if (!ldrVa) return STATUS_NO_MEMORY;
    PEB_LDR_DATA *ldr = PspArenaKva(&heap, ldrVa);
    ldr->Length = sizeof(PEB_LDR_DATA);
    ldr->Initialized = TRUE;
    PspArenaInitList(&heap, ldrVa + offsetof(PEB_LDR_DATA, InLoadOrderModuleList));
    PspArenaInitList(&heap, ldrVa + offsetof(PEB_LDR_DATA, InMemoryOrderModuleList));
    PspArenaInitList(&heap, ldrVa + offsetof(PEB_LDR_DATA, InInitializationOrderModuleList));
    ULONG64 entry;
    st = PspLdrEntry(&heap, ldrVa, imagePath, exe->ImageBase, exe->SizeOfImage, exe->ImageBase + exe->EntryRva,
                     exe->TimeDateStamp, FALSE, &entry);
    for (ULONG i = 0; NT_SUCCESS(st) && i < dlls->Count; i++) {
        PSP_PE *d = &dlls->Dll[i]->Pe;
        char full[64] = SYSTEM32;
        SIZE_T k = RtlStringLength(full), n = RtlStringLength(dlls->Dll[i]->Name);
        memcpy(full + k, dlls->Dll[i]->Name, n + 1);
        st = PspLdrEntry(&heap, ldrVa, full, d->ImageBase, d->SizeOfImage, d->EntryRva ? d->ImageBase + d->EntryRva : 0,
                         d->TimeDateStamp, TRUE, &entry);
    }
    if (!NT_SUCCESS(st)) return st;

    PEB *peb = (PEB *)PspMapUserPage(p, USER_PEB_ADDRESS, MM_READWRITE);
    MiInsertVad(p, MiAllocateShortVad(USER_PEB_ADDRESS, USER_PEB_ADDRESS + PAGE_SIZE, MM_READWRITE, TRUE));
    peb->ImageBaseAddress = (PVOID)exe->ImageBase;
    peb->Ldr = (PEB_LDR_DATA *)ldrVa;
    peb->ProcessParameters = (RTL_USER_PROCESS_PARAMETERS *)ppVa;
    peb->ProcessHeap = (PVOID)USER_HEAP_BASE;
    peb->NumberOfProcessors = 1;
    peb->OSMajorVersion = 10;
    peb->OSMinorVersion = 0;
    peb->OSBuildNumber = 19041;
    peb->OSPlatformId = 2; /* VER_PLATFORM_WIN32_NT */
    peb->ImageSubsystem = Rd16(exe->Opt + 68);
    peb->ImageSubsystemMajorVersion = Rd16(exe->Opt + 48);
    peb->ImageSubsystemMinorVersion = Rd16(exe->Opt + 50);
    p->Peb = (PEB *)USER_PEB_ADDRESS;
    return STATUS_SUCCESS;
}

/* Thread t's TEB: the n-th page below the PEB for the process's n-th user
   thread (mini-NT's processes have one). */
NTSTATUS PspCreateTeb(EPROCESS *p, ETHREAD *t, ULONG64 stackBase, ULONG64 stackLimit) {
    ULONG64 va = USER_PEB_ADDRESS - PAGE_SIZE;
    while (MiLocateAddress(p, va)) {
        va -= PAGE_SIZE;
        if (va < USER_PEB_ADDRESS - 64 * PAGE_SIZE) return STATUS_NO_MEMORY;
    }
    TEB *teb = (TEB *)PspMapUserPage(p, va, MM_READWRITE);
    MiInsertVad(p, MiAllocateShortVad(va, va + PAGE_SIZE, MM_READWRITE, TRUE));
    teb->NtTib.StackBase = (PVOID)stackBase;
    teb->NtTib.StackLimit = (PVOID)stackLimit;
    teb->NtTib.Self = (NT_TIB *)va;
    teb->DeallocationStack = (PVOID)stackLimit;
    teb->ClientId = t->Cid;
    teb->ProcessEnvironmentBlock = p->Peb;
    t->Tcb.Teb = (PVOID)va;
    return STATUS_SUCCESS;
}

/* ---- the serial report ------------------------------------------------------ */

/* What the process's PEB, loader lists and TEBs hold, read back through the
   kernel's views of the pages just built (the process is not running yet,
   and nothing has been trimmed). */
void PspReportUserEnvironment(EPROCESS *p, ETHREAD *t, const char *imagePath, const char *commandLine,
                              PSP_PE *exe, PSP_LOADED_DLLS *dlls) {
    ULONG64 pid = (ULONG64)p->UniqueProcessId;
    PEB *peb = MmGetVirtualForPhysical(MmGetPhysicalAddress(p->Pcb.DirectoryTableBase, (ULONG64)p->Peb));
    DbgPrint("frost-guest: peb pid=%llu peb=0x%llx ldr=0x%llx params=0x%llx image-base=0x%llx modules=%u "
             "image=\"%s\" cmdline=\"%s\" cwd=\"%s\"\n",
             pid, (ULONG64)p->Peb, (ULONG64)peb->Ldr, (ULONG64)peb->ProcessParameters, (ULONG64)peb->ImageBaseAddress,
             dlls->Count + 1, imagePath, commandLine, SYSTEM32);
    DbgPrint("frost-guest: ldr-module pid=%llu index=0 base=0x%llx size=0x%x entry=0x%llx name=%s full=\"%s\"\n", pid,
             exe->ImageBase, exe->SizeOfImage, exe->ImageBase + exe->EntryRva, PspBaseName(imagePath), imagePath);
    for (ULONG i = 0; i < dlls->Count; i++) {
        PSP_PE *d = &dlls->Dll[i]->Pe;
        DbgPrint("frost-guest: ldr-module pid=%llu index=%u base=0x%llx size=0x%x entry=0x%llx name=%s "
                 "full=\"%s%s\"\n",
                 pid, i + 1, d->ImageBase, d->SizeOfImage, d->EntryRva ? d->ImageBase + d->EntryRva : 0,
                 dlls->Dll[i]->Name, SYSTEM32, dlls->Dll[i]->Name);
    }
    PEB *ppeb = peb;
    RTL_USER_PROCESS_PARAMETERS *pp =
        MmGetVirtualForPhysical(MmGetPhysicalAddress(p->Pcb.DirectoryTableBase, (ULONG64)ppeb->ProcessParameters));
    ULONG64 envVa = (ULONG64)pp->Environment;
    DbgPrint("frost-guest: environment pid=%llu address=0x%llx size=0x%llx\n", pid, envVa, pp->EnvironmentSize);
    /* One line per variable: name=value split at the first '=' after the
       first character (Windows' "=C:=C:\" variables start with one). */
    char var[160];
    SIZE_T n = 0;
    for (ULONG64 off = 0; off + sizeof(WCHAR) <= pp->EnvironmentSize; off += sizeof(WCHAR)) {
        ULONG64 va = envVa + off;
        WCHAR c = *(WCHAR *)((UCHAR *)MmGetVirtualForPhysical(MmGetPhysicalAddress(p->Pcb.DirectoryTableBase, va)));
        if (c) {
            if (n + 1 < sizeof(var)) var[n++] = (char)c;
            continue;
        }
        if (!n) break;
        var[n] = 0;
        SIZE_T eq = 1;
        while (eq < n && var[eq] != '=') eq++;
        var[eq < n ? eq : n] = 0;
        DbgPrint("frost-guest: env pid=%llu name=\"%s\" value=\"%s\"\n", pid, var, eq < n ? var + eq + 1 : "");
        n = 0;
    }
    TEB *teb = MmGetVirtualForPhysical(MmGetPhysicalAddress(p->Pcb.DirectoryTableBase, (ULONG64)t->Tcb.Teb));
    DbgPrint("frost-guest: teb pid=%llu tid=%llu teb=0x%llx stack-base=0x%llx stack-limit=0x%llx\n", pid,
             (ULONG64)t->Cid.UniqueThread, (ULONG64)t->Tcb.Teb, (ULONG64)teb->NtTib.StackBase,
             (ULONG64)teb->NtTib.StackLimit);
}
