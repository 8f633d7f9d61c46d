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
    if (!MmIsUserRangeValid(MinimumSize, sizeof(LARGE_INTEGER), FALSE) ||
        !MmIsUserRangeValid(MaximumSize, sizeof(LARGE_INTEGER), FALSE))
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
    st = FsZeroExtent(e, (ULONG64)min);
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
