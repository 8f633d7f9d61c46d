/*
 * NtCreatePagingFile: creates the paging file on C: and registers it in
 * MiSystemPartition.Vp.PagingFile[], as Windows' MmCreatePagingFile does.
 * smss calls it once per entry of the PagingFiles registry value.
 */
#include "ke.h"

NTSTATUS NtCreatePagingFile(PUNICODE_STRING PageFileName, PLARGE_INTEGER MinimumSize, PLARGE_INTEGER MaximumSize,
                            ULONG Priority) {
    (void)Priority;
    char path[260];
    SIZE_T len;
    NTSTATUS st = ExCaptureUnicodeToAscii(PageFileName, path, sizeof(path), &len);
    if (!NT_SUCCESS(st)) return st;
    if (!MmProbeUserRange(MinimumSize, sizeof(LARGE_INTEGER), FALSE) ||
        !MmProbeUserRange(MaximumSize, sizeof(LARGE_INTEGER), FALSE))
        return STATUS_ACCESS_VIOLATION;
    LONGLONG min = MinimumSize->QuadPart, max = MaximumSize->QuadPart;
    if (min <= 0 || max < min || (min & (PAGE_SIZE - 1)) || (max & (PAGE_SIZE - 1))) return STATUS_INVALID_PARAMETER;

    MI_VISIBLE_PARTITION *vp = &MiSystemPartition.Vp;
    if (vp->NumberOfPagingFiles >= MAX_PAGE_FILES) return STATUS_TOO_MANY_PAGING_FILES;

    DEVICE_OBJECT *dev;
    const char *rel;
    SIZE_T rellen;
    st = IopResolveVolumePath(path, len, &dev, &rel, &rellen);
    if (!NT_SUCCESS(st)) return st;
    ULONG index;
    FROSTFS_ENTRY *e = FsLookup(rel, rellen, &index);
    if (!e) return STATUS_DISK_FULL; /* no extent reserved for this name */
    if ((ULONG64)max > e->ExtentCapacity) return STATUS_DISK_FULL;
    for (ULONG i = 0; i < vp->NumberOfPagingFiles; i++)
        if (vp->PagingFile[i]->File->FsContext == e) return STATUS_OBJECT_NAME_COLLISION;

    /* Create the file: its first MinimumSize bytes are allocated and zeroed
       on disk. */
    st = FsZeroExtent(e, 0, (ULONG64)min);
    if (!NT_SUCCESS(st)) return st;
    e->Flags |= FROSTFS_EXISTS;
    e->FileSize = (ULONG64)min;
    st = FsUpdateEntry(index);
    if (!NT_SUCCESS(st)) return st;

    FILE_OBJECT *fo;
    st = IopCreateFileObject(dev, rel, rellen, index, TRUE, &fo);
    if (!NT_SUCCESS(st)) return st;

    MMPAGING_FILE *pf = ExAllocatePoolWithTag(NonPagedPool, sizeof(MMPAGING_FILE), '  mM');
    pf->Size = (ULONG64)min >> PAGE_SHIFT;
    pf->MinimumSize = (ULONG64)min >> PAGE_SHIFT;
    pf->MaximumSize = (ULONG64)max >> PAGE_SHIFT;
    /* Page 0 of every paging file stays unused, as in Windows, so a
       pagefile PTE's offset (PageFileHigh) is never 0. */
    pf->FreeSpace = pf->Size - 1;
    ULONG64 *bitmap = ExAllocatePoolWithTag(NonPagedPool, ((pf->MaximumSize + 63) / 64) * 8, '  mM');
    bitmap[0] = 1; /* page 0 */
    pf->Bitmaps = bitmap;
    pf->File = fo;
    pf->PageFileNumber = vp->NumberOfPagingFiles;
    pf->VirtualStorePagefile = 0;
    WCHAR *name = ExAllocatePoolWithTag(NonPagedPool, (len + 1) * sizeof(WCHAR), '  mM');
    for (SIZE_T i = 0; i < len; i++) name[i] = (WCHAR)path[i];
    pf->PageFileName.Buffer = name;
    pf->PageFileName.Length = (USHORT)(len * sizeof(WCHAR));
    pf->PageFileName.MaximumLength = (USHORT)((len + 1) * sizeof(WCHAR));
    HANDLE kh;
    st = ExCreateHandle(ObpKernelHandleTable, fo, 0x12019f, &kh); /* a kernel handle, as Windows keeps */
    if (!NT_SUCCESS(st)) return st;
    pf->FileHandle = kh;

    vp->PagingFile[vp->NumberOfPagingFiles++] = pf;
    DbgPrint("frost-guest: pagingfile name=%s number=%u offset=0x%llx size=0x%llx virtual-store=%u\n", path,
             (ULONG)pf->PageFileNumber, e->ExtentOffset, (ULONG64)min, (ULONG)pf->VirtualStorePagefile);
    return STATUS_SUCCESS;
}

/* ---- paging I/O -------------------------------------------------------------- */

static MMPAGING_FILE *MiPagingFile(ULONG n) {
    return n < MiSystemPartition.Vp.NumberOfPagingFiles ? MiSystemPartition.Vp.PagingFile[n] : NULL;
}

NTSTATUS MiReadPagefilePage(ULONG pagefile, ULONG64 offset, PVOID dst) {
    MMPAGING_FILE *pf = MiPagingFile(pagefile);
    if (!pf || offset == 0 || offset >= pf->Size) return STATUS_INVALID_PARAMETER;
    return FsRead(pf->File->FsContext, offset * PAGE_SIZE, dst, PAGE_SIZE);
}

NTSTATUS MiWritePagefilePage(ULONG pagefile, ULONG64 offset, const void *src) {
    MMPAGING_FILE *pf = MiPagingFile(pagefile);
    if (!pf || offset == 0 || offset >= pf->Size) return STATUS_INVALID_PARAMETER;
    return FsWrite(pf->File->FsContext, offset * PAGE_SIZE, src, PAGE_SIZE);
}

#define MM_PAGEFILE_EXTEND_PAGES 256ull /* 1 MiB */

/* Grows a full paging file toward its MaximumSize, as Windows extends
   pagefile.sys: the new part is zeroed on disk first. */
static BOOLEAN MiExtendPagingFile(MMPAGING_FILE *pf) {
    if (pf->Size >= pf->MaximumSize) return FALSE;
    ULONG64 grow = pf->MaximumSize - pf->Size < MM_PAGEFILE_EXTEND_PAGES ? pf->MaximumSize - pf->Size
                                                                           : MM_PAGEFILE_EXTEND_PAGES;
    FROSTFS_ENTRY *e = pf->File->FsContext;
    ULONG index = (ULONG)(ULONG64)pf->File->FsContext2;
    if (!NT_SUCCESS(FsZeroExtent(e, pf->Size * PAGE_SIZE, grow * PAGE_SIZE))) return FALSE;
    e->FileSize = (pf->Size + grow) * PAGE_SIZE;
    if (!NT_SUCCESS(FsUpdateEntry(index))) return FALSE;
    pf->Size += grow;
    pf->FreeSpace += grow;
    DbgPrint("frost-guest: pagingfile-extended number=%u size=0x%llx\n", (ULONG)pf->PageFileNumber,
             pf->Size * PAGE_SIZE);
    return TRUE;
}

/* Round robin over the paging files, first free page of each; a full file
   grows before the next one is tried. */
BOOLEAN MiAllocatePagefileSlot(ULONG *pagefile, ULONG64 *offset) {
    static ULONG next;
    ULONG count = MiSystemPartition.Vp.NumberOfPagingFiles;
    for (ULONG tries = 0; tries < count * 2; tries++) {
        if (tries == count) { /* all full: grow them */
            BOOLEAN grew = FALSE;
            for (ULONG n = 0; n < count; n++) grew |= MiExtendPagingFile(MiPagingFile(n));
            if (!grew) return FALSE;
        }
        ULONG n = (next + tries) % count;
        MMPAGING_FILE *pf = MiPagingFile(n);
        if (!pf->FreeSpace) continue;
        ULONG64 *bitmap = pf->Bitmaps;
        for (ULONG64 i = pf->AllocationBitmapHint; i < pf->Size; i++) {
            if (bitmap[i / 64] & (1ull << (i % 64))) continue;
            bitmap[i / 64] |= 1ull << (i % 64);
            pf->AllocationBitmapHint = (ULONG)i;
            pf->FreeSpace--;
            if (i > pf->HighestPage) pf->HighestPage = i;
            if (pf->Size - 1 - pf->FreeSpace > pf->PeakUsage) pf->PeakUsage = pf->Size - 1 - pf->FreeSpace;
            *pagefile = n;
            *offset = i;
            next = n + 1;
            return TRUE;
        }
    }
    return FALSE;
}

void MiFreePagefileSlot(ULONG pagefile, ULONG64 offset) {
    MMPAGING_FILE *pf = MiPagingFile(pagefile);
    if (!pf || offset == 0 || offset >= pf->Size) return;
    ULONG64 *bitmap = pf->Bitmaps;
    if (!(bitmap[offset / 64] & (1ull << (offset % 64)))) return;
    bitmap[offset / 64] &= ~(1ull << (offset % 64));
    pf->FreeSpace++;
    if (offset < pf->AllocationBitmapHint) pf->AllocationBitmapHint = (ULONG)offset;
}
