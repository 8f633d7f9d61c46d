/*
 * Image sections: NtCreateSection (SEC_IMAGE), MiCreateNewSection and
 * NtMapViewOfSection.
 *
 * A control area heads the section, followed in memory by one subsection
 * for the headers and one per PE section, as in Windows. The prototype PTEs
 * live in paged pool. Pages not yet read are subsection PTEs, so their
 * content is only in the file; but when the image's device is ejectable
 * (WinPE in RAM), MiCreateNewSection reads the whole image at once and
 * MiSetPagesModified leaves every prototype a modified transition PTE, so
 * the content is in RAM (and later, perhaps, in the paging file).
 *
 * mini-NT maps only images whose file alignment is the page size (lld-link
 * /filealign:4096), so file and memory layouts agree page for page.
 */
#include "ke.h"
#include "pe.h"
#include "cc.h" /* SECTION_OBJECT_POINTERS.SharedCacheMap: never set */

#define SEC_IMAGE 0x01000000
#define STATUS_INVALID_FILE_FOR_SECTION ((NTSTATUS)0xC0000020)
#define STATUS_CONFLICTING_ADDRESSES ((NTSTATUS)0xC0000018)
#define MAX_IMAGE_SECTIONS 16
#define MAX_IMAGE_SIZE 0x1000000ull

MMPTE *MiVadPrototypePte(MMVAD *vad, ULONG64 va) {
    return vad->FirstPrototypePte + ((va - MiVadStart(&vad->Core)) >> PAGE_SHIFT);
}

static ULONG MiSectionProtection(ULONG ch) {
    BOOLEAN x = (ch & 0x20000000u) != 0, w = (ch & 0x80000000u) != 0;
    if (w) return x ? 7 /* EXECUTE_WRITECOPY */ : 5 /* WRITECOPY */;
    return x ? MM_EXECUTE_READ : MM_READONLY;
}

static void MiSetPagesModified(SUBSECTION *s, ULONG64 pages, FROSTFS_ENTRY *e) {
    for (ULONG64 i = 0; i < pages; i++) {
        MMPTE *proto = s->SubsectionBase + i;
        ULONG64 pfn = MiRemoveAnyPage();
        PVOID page = MmGetVirtualForPhysical(pfn << PAGE_SHIFT);
        if (!NT_SUCCESS(MiReadFilePage(s, proto, page))) memset(page, 0, PAGE_SIZE);
        (void)e;
        MMPFN *pf = MI_PFN(pfn);
        pf->PteAddress = proto;
        pf->u4.PrototypePte = 1;
        pf->OriginalPte.u.Long = MiMakeDemandZeroPte(s->u.SubsectionFlags.Protection);
        pf->u3.e1.Modified = 1;
        MiWriteInvalidPte(proto, MiMakeTransitionPte(pfn, s->u.SubsectionFlags.Protection));
        MiInsertPageInList(&MmModifiedPageListHead, pfn);
    }
}

static NTSTATUS MiCreateNewSection(FILE_OBJECT *fo, CONTROL_AREA **out) {
    FROSTFS_ENTRY *e = fo->FsContext;
    static UCHAR hdr[PAGE_SIZE];
    if (e->FileSize < 0x200) return STATUS_INVALID_FILE_FOR_SECTION;
    NTSTATUS st = FsRead(e, 0, hdr, e->FileSize < PAGE_SIZE ? e->FileSize : PAGE_SIZE);
    if (!NT_SUCCESS(st)) return st;
    const IMAGE_DOS_HEADER *dos = (const IMAGE_DOS_HEADER *)hdr;
    if (dos->e_magic != IMAGE_DOS_SIGNATURE || dos->e_lfanew < (LONG)sizeof(*dos) ||
        (ULONG64)dos->e_lfanew > PAGE_SIZE - sizeof(IMAGE_NT_HEADERS64))
        return STATUS_INVALID_IMAGE_FORMAT;
    const IMAGE_NT_HEADERS64 *nt = (const IMAGE_NT_HEADERS64 *)(hdr + dos->e_lfanew);
    const IMAGE_OPTIONAL_HEADER64 *opt = &nt->OptionalHeader;
    if (nt->Signature != IMAGE_NT_SIGNATURE || opt->Magic != IMAGE_NT_OPTIONAL_HDR64_MAGIC)
        return STATUS_INVALID_IMAGE_FORMAT;
    ULONG sizeOfImage = opt->SizeOfImage;
    USHORT nsec = nt->FileHeader.NumberOfSections;
    const IMAGE_SECTION_HEADER *sec =
        (const IMAGE_SECTION_HEADER *)((const UCHAR *)opt + nt->FileHeader.SizeOfOptionalHeader);
    if (opt->FileAlignment != PAGE_SIZE || opt->SectionAlignment != PAGE_SIZE || sizeOfImage > MAX_IMAGE_SIZE ||
        nsec > MAX_IMAGE_SECTIONS || (ULONG64)((const UCHAR *)sec - hdr) + nsec * sizeof(*sec) > PAGE_SIZE)
        return STATUS_INVALID_IMAGE_FORMAT;
    ULONG64 ptes = (sizeOfImage + PAGE_SIZE - 1) >> PAGE_SHIFT;

    /* The control area with its subsections right behind it. */
    CONTROL_AREA *ca =
        ExAllocatePoolWithTag(NonPagedPool, sizeof(CONTROL_AREA) + (nsec + 1) * sizeof(SUBSECTION), 'tSmM');
    SUBSECTION *subs = (SUBSECTION *)(ca + 1);
    SEGMENT *seg = ExAllocatePoolWithTag(NonPagedPool, sizeof(SEGMENT), 'tSmM');
    MMPTE *protos = ExAllocatePoolWithTag(PagedPool, ptes * sizeof(MMPTE), 'tSmM');
    seg->ControlArea = ca;
    seg->TotalNumberOfPtes = (ULONG)ptes;
    seg->SizeOfSegment = ptes * PAGE_SIZE;
    seg->PrototypePte = protos;
    ca->Segment = seg;
    ca->ListHead.Flink = ca->ListHead.Blink = &ca->ListHead;
    ca->NumberOfSectionReferences = 1;
    ca->u.Flags.Image = 1;
    ca->u.Flags.File = 1;
    /* An _EX_FAST_REF: the low four bits are a reference cache, never 0
       while the section holds the file. */
    ca->FilePointer.Value = (ULONG64)fo | 0x9;

    /* Subsection 0: the headers. Then one per section, in order. */
    ULONG n = 0;
    subs[n].SubsectionBase = &protos[0];
    subs[n].PtesInSubsection = 1;
    subs[n].StartingSector = 0;
    subs[n].NumberOfFullSectors = PAGE_SIZE / 512;
    subs[n].u.SubsectionFlags.Protection = MM_READONLY;
    n++;
    for (USHORT i = 0; i < nsec; i++, sec++) {
        ULONG vsize = sec->Misc.VirtualSize, va = sec->VirtualAddress, rawsize = sec->SizeOfRawData;
        ULONG rawptr = sec->PointerToRawData, ch = sec->Characteristics;
        if ((va & (PAGE_SIZE - 1)) || va + vsize > ptes * PAGE_SIZE || (rawptr & 511) || rawptr + rawsize > e->FileSize)
            return STATUS_INVALID_IMAGE_FORMAT;
        ULONG64 pages = ((ULONG64)(vsize > rawsize ? vsize : rawsize) + PAGE_SIZE - 1) >> PAGE_SHIFT;
        if (!pages || va / PAGE_SIZE + pages > ptes) continue;
        subs[n].SubsectionBase = &protos[va / PAGE_SIZE];
        subs[n].PtesInSubsection = (ULONG)pages;
        subs[n].StartingSector = rawptr / 512;
        subs[n].NumberOfFullSectors = rawsize / 512;
        subs[n].u.SubsectionFlags.Protection = MiSectionProtection(ch);
        subs[n - 1].NextSubsection = &subs[n];
        n++;
    }
    for (ULONG i = 0; i < n; i++) subs[i].ControlArea = ca;

    BOOLEAN inRam = IoIsDeviceEjectable(fo->DeviceObject);
    if (inRam) ca->u.Flags.ImageControlAreaOnRemovableMedia = 1;
    for (ULONG i = 0; i < n; i++) {
        SUBSECTION *s = &subs[i];
        /* Pages past the section's raw data are demand-zero (.bss). */
        ULONG64 filePages = ((ULONG64)s->NumberOfFullSectors * 512 + PAGE_SIZE - 1) >> PAGE_SHIFT;
        if (filePages > s->PtesInSubsection) filePages = s->PtesInSubsection;
        for (ULONG64 k = filePages; k < s->PtesInSubsection; k++)
            MiWriteInvalidPte(&s->SubsectionBase[k], MiMakeDemandZeroPte(s->u.SubsectionFlags.Protection));
        if (inRam) {
            MiSetPagesModified(s, filePages, e);
        } else {
            for (ULONG64 k = 0; k < filePages; k++)
                MiWriteInvalidPte(&s->SubsectionBase[k], MiMakeSubsectionPte(s, s->u.SubsectionFlags.Protection));
        }
    }
    SECTION_OBJECT_POINTERS *sop = ExAllocatePoolWithTag(NonPagedPool, sizeof(*sop), 'tSmM');
    sop->ImageSectionObject = ca;
    fo->SectionObjectPointer = sop;
    DbgPrint("frost-guest: section file=%wZ control-area=0x%llx subsections=%u ptes=%llu in-ram=%u\n", &fo->FileName,
             (ULONG64)ca, n, ptes, (ULONG)inRam);
    *out = ca;
    return STATUS_SUCCESS;
}

/* The image section of a file: its existing control area, or a new one. */
NTSTATUS MmCreateImageSection(FILE_OBJECT *fo, CONTROL_AREA **out) {
    CONTROL_AREA *ca = fo->SectionObjectPointer ? fo->SectionObjectPointer->ImageSectionObject : NULL;
    if (ca) {
        ca->NumberOfSectionReferences++;
        *out = ca;
        return STATUS_SUCCESS;
    }
    return MiCreateNewSection(fo, out);
}

NTSTATUS NtCreateSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                         PLARGE_INTEGER MaximumSize, ULONG SectionPageProtection, ULONG AllocationAttributes,
                         HANDLE FileHandle) {
    (void)ObjectAttributes, (void)MaximumSize;
    if (!MmProbeUserRange(SectionHandle, sizeof(HANDLE), TRUE)) return STATUS_ACCESS_VIOLATION;
    if (AllocationAttributes != SEC_IMAGE) return STATUS_INVALID_PARAMETER; /* image sections only */
    FILE_OBJECT *fo;
    NTSTATUS st = ObReferenceObjectByHandle(FileHandle, IoFileObjectType, (PVOID *)&fo);
    if (!NT_SUCCESS(st)) return st;
    CONTROL_AREA *ca;
    st = MmCreateImageSection(fo, &ca);
    if (!NT_SUCCESS(st)) return st;
    SECTION *section = ObCreateObject(MmSectionObjectType, sizeof(SECTION));
    section->u1.ControlArea = ca;
    section->SizeOfSection = ca->Segment->SizeOfSegment;
    section->InitialPageProtection = SectionPageProtection;
    HANDLE h;
    st = ObInsertObject(section, DesiredAccess, &h);
    if (NT_SUCCESS(st)) *SectionHandle = h;
    return st;
}

/* Maps a whole image view at *BaseAddress (which the caller must give). No
   PTE is written: every page of the view starts as a VAD-based prototype. */
NTSTATUS NtMapViewOfSection(HANDLE SectionHandle, HANDLE ProcessHandle, PVOID *BaseAddress, ULONG64 ZeroBits,
                            SIZE_T CommitSize, PLARGE_INTEGER SectionOffset, SIZE_T *ViewSize,
                            ULONG InheritDisposition, ULONG AllocationType, ULONG Win32Protect) {
    (void)ZeroBits, (void)CommitSize, (void)SectionOffset, (void)InheritDisposition, (void)AllocationType,
        (void)Win32Protect;
    if (ProcessHandle && ProcessHandle != (HANDLE)-1) return STATUS_INVALID_HANDLE;
    if (!MmProbeUserRange(BaseAddress, sizeof(PVOID), TRUE) || !MmProbeUserRange(ViewSize, sizeof(SIZE_T), TRUE))
        return STATUS_ACCESS_VIOLATION;
    SECTION *section;
    NTSTATUS st = ObReferenceObjectByHandle(SectionHandle, MmSectionObjectType, (PVOID *)&section);
    if (!NT_SUCCESS(st)) return st;
    ULONG64 base = (ULONG64)*BaseAddress, size;
    st = MmMapImageView(PsGetCurrentProcess(), section->u1.ControlArea, base, &size);
    if (!NT_SUCCESS(st)) return st;
    *BaseAddress = (PVOID)base;
    *ViewSize = size;
    return STATUS_SUCCESS;
}

/* Maps a whole view of the image section ca into p at base: a long VAD
   naming the file, no PTE written. p need not be the current process (the
   process loader maps a new process's DLLs this way). */
NTSTATUS MmMapImageView(EPROCESS *p, CONTROL_AREA *ca, ULONG64 base, ULONG64 *viewSize) {
    ULONG64 size = ca->Segment->SizeOfSegment;
    if (!base || (base & 0xffff) || base < MM_LOWEST_USER_ADDRESS || base + size > MM_USER_PROBE_ADDRESS)
        return STATUS_INVALID_PARAMETER;
    for (MMVAD_SHORT *v = MiFirstVad(p); v; v = MiNextVad(v))
        if (base < MiVadEnd(v) && MiVadStart(v) < base + size) return STATUS_CONFLICTING_ADDRESSES;
    MMVAD *vad = MiAllocateVad(base, base + size, VadImageMap, 7 /* EXECUTE_WRITECOPY */, FALSE, TRUE);
    vad->Subsection = (SUBSECTION *)(ca + 1);
    vad->FirstPrototypePte = ca->Segment->PrototypePte;
    vad->LastContiguousPte = ca->Segment->PrototypePte + ca->Segment->TotalNumberOfPtes - 1;
    vad->FileObject = (FILE_OBJECT *)(ca->FilePointer.Value & ~0xfull);
    vad->VadsProcess = p;
    vad->ViewLinks.Flink = &ca->ListHead;
    vad->ViewLinks.Blink = ca->ListHead.Blink;
    ca->ListHead.Blink->Flink = &vad->ViewLinks;
    ca->ListHead.Blink = &vad->ViewLinks;
    MiInsertVad(p, &vad->Core);
    ca->NumberOfMappedViews++;
    ca->NumberOfUserReferences++;
    *viewSize = size;
    return STATUS_SUCCESS;
}
