/*
 * I/O: the C: volume. An ATA PIO driver for the primary master, the volume's
 * file table (integration/guest/README.md), \Driver\atapi,
 * \Device\HarddiskVolume1 and \??\C:, file objects, NtCreateFile,
 * NtWriteFile and IoIsDeviceEjectable.
 */
#include "ke.h"

DEVICE_OBJECT *IoBootVolume;
static DRIVER_OBJECT *IopDiskDriver;

/* ---- ATA PIO ----------------------------------------------------------- */

#define ATA_DATA 0x1f0
#define ATA_COUNT 0x1f2
#define ATA_LBA0 0x1f3
#define ATA_LBA1 0x1f4
#define ATA_LBA2 0x1f5
#define ATA_DRIVE 0x1f6
#define ATA_STATUS 0x1f7
#define ATA_CONTROL 0x3f6
#define ATA_BSY 0x80
#define ATA_DRQ 0x08
#define ATA_ERR 0x01
#define ATA_DF 0x20
#define SECTOR 512ull

static NTSTATUS IdeWait(BOOLEAN wantDrq) {
    for (ULONG64 spins = 0; spins < 1000000ull; spins++) {
        UCHAR s = READ_PORT_UCHAR(ATA_STATUS);
        if (s == 0xff) return STATUS_IO_DEVICE_ERROR; /* floating bus: no controller */
        if (s & ATA_BSY) continue;
        if (s & (ATA_ERR | ATA_DF)) return STATUS_IO_DEVICE_ERROR;
        if (!wantDrq || (s & ATA_DRQ)) return STATUS_SUCCESS;
    }
    return STATUS_IO_DEVICE_ERROR;
}

static NTSTATUS IdeCommand(ULONG64 lba, ULONG count, UCHAR cmd) {
    if (lba + count > (1ull << 28) || count == 0 || count > 256) return STATUS_INVALID_PARAMETER;
    NTSTATUS st = IdeWait(FALSE);
    if (!NT_SUCCESS(st)) return st;
    WRITE_PORT_UCHAR(ATA_DRIVE, (UCHAR)(0xe0 | ((lba >> 24) & 0xf)));
    WRITE_PORT_UCHAR(ATA_COUNT, (UCHAR)count); /* 0 means 256 */
    WRITE_PORT_UCHAR(ATA_LBA0, (UCHAR)lba);
    WRITE_PORT_UCHAR(ATA_LBA1, (UCHAR)(lba >> 8));
    WRITE_PORT_UCHAR(ATA_LBA2, (UCHAR)(lba >> 16));
    WRITE_PORT_UCHAR(ATA_STATUS, cmd);
    return STATUS_SUCCESS;
}

static NTSTATUS IdeReadSectors(ULONG64 lba, ULONG count, PVOID buf) {
    NTSTATUS st = IdeCommand(lba, count, 0x20);
    for (ULONG i = 0; NT_SUCCESS(st) && i < count; i++) {
        st = IdeWait(TRUE);
        if (!NT_SUCCESS(st)) break;
        PVOID p = (UCHAR *)buf + i * SECTOR;
        ULONG64 n = SECTOR / 2;
        __asm__ volatile("cld; rep insw" : "+D"(p), "+c"(n) : "d"(ATA_DATA) : "memory");
    }
    return st;
}

/* Writes count sectors; when repeat is set, buf is one sector written to
   every one of them (zeroing a paging file). */
static NTSTATUS IdeWriteSectors(ULONG64 lba, ULONG count, const void *buf, BOOLEAN repeat) {
    NTSTATUS st = IdeCommand(lba, count, 0x30);
    for (ULONG i = 0; NT_SUCCESS(st) && i < count; i++) {
        st = IdeWait(TRUE);
        if (!NT_SUCCESS(st)) break;
        const void *p = (const UCHAR *)buf + (repeat ? 0 : i * SECTOR);
        ULONG64 n = SECTOR / 2;
        __asm__ volatile("cld; rep outsw" : "+S"(p), "+c"(n) : "d"(ATA_DATA) : "memory");
    }
    /* No FLUSH CACHE: QEMU hands every written sector to the host file at
       once, and a flush would cost a host fsync per write. */
    if (NT_SUCCESS(st)) st = IdeWait(FALSE);
    return st;
}

/* ---- the file table --------------------------------------------------- */

#define FS_TABLE_SECTORS 8
#define FS_ENTRIES_PER_SECTOR (SECTOR / sizeof(FROSTFS_ENTRY))
#define FS_MAX_ENTRIES (FS_TABLE_SECTORS * FS_ENTRIES_PER_SECTOR)

static FROSTFS_ENTRY *FsTable;
static ULONG FsEntryCount;
static ULONG FsTableLba;
static ULONG64 FsImageSize;
static UCHAR *FsSectorBuffer;

_Static_assert(sizeof(FROSTFS_ENTRY) == 128, "file table entries are 128 bytes");

static NTSTATUS FsMount(void) {
    UCHAR *sb = FsSectorBuffer;
    /* An empty channel reads back status 0 once the master is selected. */
    WRITE_PORT_UCHAR(ATA_DRIVE, 0xe0);
    if (READ_PORT_UCHAR(ATA_STATUS) == 0) return STATUS_IO_DEVICE_ERROR;
    NTSTATUS st = IdeReadSectors(0, 1, sb);
    if (!NT_SUCCESS(st)) return st;
    if (RtlCompareMemory(sb, "FROSTFS1", 8) != 0 || *(ULONG *)(sb + 8) != 1) return STATUS_INVALID_PARAMETER;
    FsTableLba = *(ULONG *)(sb + 0x0c);
    ULONG sectors = *(ULONG *)(sb + 0x10);
    FsImageSize = *(ULONG64 *)(sb + 0x18);
    if (sectors != FS_TABLE_SECTORS || FsTableLba == 0) return STATUS_INVALID_PARAMETER;
    FsTable = ExAllocatePoolWithTag(NonPagedPool, FS_TABLE_SECTORS * SECTOR, 'tFsF');
    st = IdeReadSectors(FsTableLba, FS_TABLE_SECTORS, FsTable);
    if (!NT_SUCCESS(st)) return st;
    for (FsEntryCount = 0; FsEntryCount < FS_MAX_ENTRIES && FsTable[FsEntryCount].Name[0]; FsEntryCount++) {
        FROSTFS_ENTRY *e = &FsTable[FsEntryCount];
        e->Name[sizeof(e->Name) - 1] = 0;
        if ((e->ExtentOffset % SECTOR) || e->ExtentOffset + e->ExtentCapacity > FsImageSize ||
            e->FileSize > e->ExtentCapacity)
            return STATUS_INVALID_PARAMETER;
    }
    return STATUS_SUCCESS;
}

FROSTFS_ENTRY *FsLookup(const char *path, SIZE_T len, ULONG *index) {
    for (ULONG i = 0; i < FsEntryCount; i++) {
        if (RtlStringLength(FsTable[i].Name) == len && RtlEqualAsciiInsensitive(FsTable[i].Name, path, len)) {
            if (index) *index = i;
            return &FsTable[i];
        }
    }
    return NULL;
}

NTSTATUS FsUpdateEntry(ULONG index) {
    ULONG sector = index / FS_ENTRIES_PER_SECTOR;
    return IdeWriteSectors(FsTableLba + sector, 1, &FsTable[sector * FS_ENTRIES_PER_SECTOR], FALSE);
}

NTSTATUS FsRead(FROSTFS_ENTRY *e, ULONG64 offset, PVOID buf, ULONG64 len) {
    if (offset + len < offset || offset + len > e->FileSize) return STATUS_END_OF_FILE;
    UCHAR *out = buf;
    while (len) {
        ULONG64 abs = e->ExtentOffset + offset, in = abs % SECTOR, n = SECTOR - in;
        NTSTATUS st;
        if (in == 0 && len >= SECTOR) { /* whole sectors straight into buf */
            n = len / SECTOR > 256 ? 256 * SECTOR : len / SECTOR * SECTOR;
            st = IdeReadSectors(abs / SECTOR, (ULONG)(n / SECTOR), out);
        } else {
            if (n > len) n = len;
            st = IdeReadSectors(abs / SECTOR, 1, FsSectorBuffer);
            if (NT_SUCCESS(st)) memcpy(out, FsSectorBuffer + in, n);
        }
        if (!NT_SUCCESS(st)) return st;
        out += n;
        offset += n;
        len -= n;
    }
    return STATUS_SUCCESS;
}

/* Writes through to the extent, sector by sector (read-modify-write at the
   edges). The caller updates FileSize and the table. */
NOINLINE NTSTATUS FsWrite(FROSTFS_ENTRY *e, ULONG64 offset, const void *buf, ULONG64 len) {
    KI_REPORT_STACK(KiReportNestedStack, FsWrite);
    if (offset + len < offset || offset + len > e->ExtentCapacity) return STATUS_DISK_FULL;
    const UCHAR *in = buf;
    while (len) {
        ULONG64 abs = e->ExtentOffset + offset, at = abs % SECTOR, n = SECTOR - at;
        NTSTATUS st;
        if (at == 0 && len >= SECTOR) { /* whole sectors straight from buf */
            n = len / SECTOR > 256 ? 256 * SECTOR : len / SECTOR * SECTOR;
            st = IdeWriteSectors(abs / SECTOR, (ULONG)(n / SECTOR), in, FALSE);
        } else {
            if (n > len) n = len;
            st = IdeReadSectors(abs / SECTOR, 1, FsSectorBuffer);
            if (NT_SUCCESS(st)) {
                memcpy(FsSectorBuffer + at, in, n);
                st = IdeWriteSectors(abs / SECTOR, 1, FsSectorBuffer, FALSE);
            }
        }
        if (!NT_SUCCESS(st)) return st;
        in += n;
        offset += n;
        len -= n;
    }
    return STATUS_SUCCESS;
}

NTSTATUS FsZeroExtent(FROSTFS_ENTRY *e, ULONG64 offset, ULONG64 len) {
    if (offset + len > e->ExtentCapacity || (len % SECTOR) || (offset % SECTOR)) return STATUS_INVALID_PARAMETER;
    memset(FsSectorBuffer, 0, SECTOR);
    for (ULONG64 done = 0; done < len;) {
        ULONG64 n = (len - done) / SECTOR;
        if (n > 256) n = 256;
        NTSTATUS st = IdeWriteSectors((e->ExtentOffset + offset + done) / SECTOR, (ULONG)n, FsSectorBuffer, TRUE);
        if (!NT_SUCCESS(st)) return st;
        done += n * SECTOR;
    }
    return STATUS_SUCCESS;
}

/* ---- devices and names -------------------------------------------------- */

/* Windows: a device is ejectable when it is a floppy, or when the system
   runs WinPE from RAM (bit 31 of InitWinPEModeType). */
NOINLINE BOOLEAN IoIsDeviceEjectable(PDEVICE_OBJECT DeviceObject) {
    if (DeviceObject->Characteristics & FILE_FLOPPY_DISKETTE) return TRUE;
    return (LONG)InitWinPEModeType < 0;
}

/* Copies a user UNICODE_STRING into an ASCII kernel buffer. */
NTSTATUS ExCaptureUnicodeToAscii(const UNICODE_STRING *user, char *buf, SIZE_T cap, SIZE_T *len) {
    if (!MmProbeUserRange(user, sizeof(*user), FALSE)) return STATUS_ACCESS_VIOLATION;
    UNICODE_STRING us = *user;
    SIZE_T n = us.Length / sizeof(WCHAR);
    if (n + 1 > cap || (us.Length & 1)) return STATUS_OBJECT_NAME_INVALID;
    if (!MmProbeUserRange(us.Buffer, us.Length, FALSE)) return STATUS_ACCESS_VIOLATION;
    for (SIZE_T i = 0; i < n; i++) {
        WCHAR c = us.Buffer[i];
        if (c == 0 || c >= 0x80) return STATUS_OBJECT_NAME_INVALID;
        buf[i] = (char)c;
    }
    buf[n] = 0;
    *len = n;
    return STATUS_SUCCESS;
}

/* \??\C:\x → the device behind \??\C: and the volume-relative path \x. */
NTSTATUS IopResolveVolumePath(const char *ntpath, SIZE_T len, DEVICE_OBJECT **dev, const char **rel, SIZE_T *rellen) {
    SIZE_T i = 0;
    /* The link's name ends at the first backslash after the \??\ prefix. */
    if (len < 4 || !RtlEqualAsciiInsensitive(ntpath, "\\??\\", 4)) return STATUS_OBJECT_PATH_NOT_FOUND;
    for (i = 4; i < len && ntpath[i] != '\\'; i++) {
    }
    PVOID o = ObLookupNamedObject(ntpath, i);
    if (!o) return STATUS_OBJECT_PATH_NOT_FOUND;
    if (ObGetObjectType(o) == ObpSymbolicLinkObjectType) {
        OBJECT_SYMBOLIC_LINK *link = o;
        o = ObLookupNamedObject(link->LinkTargetAscii, RtlStringLength(link->LinkTargetAscii));
    }
    if (!o || ObGetObjectType(o) != IoDeviceObjectType) return STATUS_OBJECT_PATH_NOT_FOUND;
    if (i == len) return STATUS_OBJECT_NAME_INVALID;
    *dev = o;
    *rel = ntpath + i;
    *rellen = len - i;
    return STATUS_SUCCESS;
}

NTSTATUS IopCreateFileObject(DEVICE_OBJECT *dev, const char *rel, SIZE_T rellen, ULONG fsIndex, BOOLEAN write,
                             FILE_OBJECT **out) {
    FILE_OBJECT *fo = ObCreateObject(IoFileObjectType, sizeof(FILE_OBJECT));
    fo->Type = IO_TYPE_FILE;
    fo->Size = sizeof(FILE_OBJECT);
    fo->DeviceObject = dev;
    WCHAR *name = ExAllocatePoolWithTag(NonPagedPool, (rellen + 1) * sizeof(WCHAR), 'mNoI');
    for (SIZE_T i = 0; i < rellen; i++) name[i] = (WCHAR)rel[i];
    fo->FileName.Buffer = name;
    fo->FileName.Length = (USHORT)(rellen * sizeof(WCHAR));
    fo->FileName.MaximumLength = (USHORT)((rellen + 1) * sizeof(WCHAR));
    fo->FsContext = &FsTable[fsIndex];
    fo->FsContext2 = (PVOID)(ULONG64)fsIndex;
    fo->ReadAccess = TRUE;
    fo->WriteAccess = write;
    fo->Flags = 0x2; /* FO_SYNCHRONOUS_IO */
    fo->IrpList.Flink = fo->IrpList.Blink = &fo->IrpList;
    *out = fo;
    return STATUS_SUCCESS;
}

/* ---- system services ---------------------------------------------------- */

#define FILE_WRITE_DATA 0x0002
#define FILE_APPEND_DATA 0x0004
#define GENERIC_WRITE 0x40000000
#define FILE_SUPERSEDE 0
#define FILE_OPEN 1
#define FILE_CREATE 2
#define FILE_OPEN_IF 3
#define FILE_OVERWRITE 4
#define FILE_OVERWRITE_IF 5
#define FILE_OPENED 1
#define FILE_CREATED 2

NTSTATUS NtCreateFile(PHANDLE FileHandle, ACCESS_MASK DesiredAccess, POBJECT_ATTRIBUTES ObjectAttributes,
                      PIO_STATUS_BLOCK IoStatusBlock, PLARGE_INTEGER AllocationSize, ULONG FileAttributes,
                      ULONG ShareAccess, ULONG CreateDisposition, ULONG CreateOptions, PVOID EaBuffer,
                      ULONG EaLength) {
    (void)AllocationSize, (void)FileAttributes, (void)ShareAccess, (void)CreateOptions, (void)EaBuffer, (void)EaLength;
    if (!MmProbeUserRange(FileHandle, sizeof(HANDLE), TRUE) ||
        !MmProbeUserRange(IoStatusBlock, sizeof(IO_STATUS_BLOCK), TRUE) ||
        !MmProbeUserRange(ObjectAttributes, sizeof(OBJECT_ATTRIBUTES), FALSE))
        return STATUS_ACCESS_VIOLATION;
    if (CreateDisposition > FILE_OVERWRITE_IF) return STATUS_INVALID_PARAMETER;
    char path[260];
    SIZE_T len;
    NTSTATUS st = ExCaptureUnicodeToAscii(ObjectAttributes->ObjectName, path, sizeof(path), &len);
    if (!NT_SUCCESS(st)) return st;
    DEVICE_OBJECT *dev;
    const char *rel;
    SIZE_T rellen;
    st = IopResolveVolumePath(path, len, &dev, &rel, &rellen);
    if (!NT_SUCCESS(st)) return st;
    ULONG index;
    FROSTFS_ENTRY *e = FsLookup(rel, rellen, &index);
    /* The volume has no allocator: a file can be created only where the
       image reserved an extent for it. */
    if (!e) return CreateDisposition == FILE_OPEN ? STATUS_OBJECT_NAME_NOT_FOUND : STATUS_DISK_FULL;
    BOOLEAN exists = (e->Flags & FROSTFS_EXISTS) != 0;
    ULONG64 info = FILE_OPENED;
    if (exists && CreateDisposition == FILE_CREATE) return STATUS_OBJECT_NAME_COLLISION;
    if (!exists && (CreateDisposition == FILE_OPEN || CreateDisposition == FILE_OVERWRITE))
        return STATUS_OBJECT_NAME_NOT_FOUND;
    if (!exists || CreateDisposition == FILE_SUPERSEDE || CreateDisposition == FILE_OVERWRITE ||
        CreateDisposition == FILE_OVERWRITE_IF) {
        e->Flags |= FROSTFS_EXISTS;
        e->FileSize = 0;
        st = FsUpdateEntry(index);
        if (!NT_SUCCESS(st)) return st;
        info = exists ? 3 /* FILE_OVERWRITTEN */ : FILE_CREATED;
    }
    BOOLEAN write = (DesiredAccess & (FILE_WRITE_DATA | FILE_APPEND_DATA | GENERIC_WRITE)) != 0;
    FILE_OBJECT *fo;
    st = IopCreateFileObject(dev, rel, rellen, index, write, &fo);
    if (!NT_SUCCESS(st)) return st;
    /* Append-only access writes at the end of the file. */
    if ((DesiredAccess & FILE_APPEND_DATA) && !(DesiredAccess & (FILE_WRITE_DATA | GENERIC_WRITE)))
        fo->Flags |= 0x80000000u; /* mini-NT's private "append" mark */
    HANDLE h;
    st = ObInsertObject(fo, DesiredAccess, &h);
    if (!NT_SUCCESS(st)) return st;
    *FileHandle = h;
    IoStatusBlock->Status = STATUS_SUCCESS;
    IoStatusBlock->Information = info;
    return STATUS_SUCCESS;
}

NTSTATUS NtWriteFile(HANDLE FileHandle, HANDLE Event, PVOID ApcRoutine, PVOID ApcContext,
                     PIO_STATUS_BLOCK IoStatusBlock, PVOID Buffer, ULONG Length, PLARGE_INTEGER ByteOffset,
                     PULONG Key) {
    KI_REPORT_STACK(KiReportServiceStack, NtWriteFile);
    (void)Event, (void)ApcRoutine, (void)ApcContext, (void)Key;
    FILE_OBJECT *fo;
    NTSTATUS st = ObReferenceObjectByHandle(FileHandle, IoFileObjectType, (PVOID *)&fo);
    if (!NT_SUCCESS(st)) return st;
    if (!fo->WriteAccess) return STATUS_ACCESS_VIOLATION;
    if (!MmProbeUserRange(IoStatusBlock, sizeof(IO_STATUS_BLOCK), TRUE) ||
        !MmProbeUserRange(Buffer, Length, FALSE) ||
        (ByteOffset && !MmProbeUserRange(ByteOffset, sizeof(LARGE_INTEGER), FALSE)))
        return STATUS_ACCESS_VIOLATION;
    FROSTFS_ENTRY *e = fo->FsContext;
    ULONG64 offset = fo->CurrentByteOffset.QuadPart;
    if (fo->Flags & 0x80000000u) offset = e->FileSize;
    if (ByteOffset && !(ByteOffset->HighPart == -1 && ByteOffset->LowPart == 0xffffffffu)) {
        if (ByteOffset->QuadPart < 0) return STATUS_INVALID_PARAMETER;
        offset = (ULONG64)ByteOffset->QuadPart;
    } else if (ByteOffset) {
        offset = e->FileSize; /* FILE_WRITE_TO_END_OF_FILE */
    }
    /* Bounce through pool in sector-sized pieces: the user buffer may sit
       anywhere, the disk driver copies from kernel memory. */
    static UCHAR bounce[SECTOR * 8];
    ULONG done = 0;
    while (done < Length) {
        ULONG n = Length - done > sizeof(bounce) ? (ULONG)sizeof(bounce) : Length - done;
        memcpy(bounce, (UCHAR *)Buffer + done, n);
        st = FsWrite(e, offset + done, bounce, n);
        if (!NT_SUCCESS(st)) break;
        done += n;
    }
    if (offset + done > e->FileSize) {
        e->FileSize = offset + done;
        NTSTATUS ust = FsUpdateEntry((ULONG)(ULONG64)fo->FsContext2);
        if (NT_SUCCESS(st)) st = ust;
    }
    fo->CurrentByteOffset.QuadPart = (LONGLONG)(offset + done);
    EPROCESS *caller = PsGetCurrentProcess();
    caller->WriteOperationCount.QuadPart++;
    caller->WriteTransferCount.QuadPart += done;
    IoStatusBlock->Status = st;
    IoStatusBlock->Information = done;
    return st;
}

/* ---- initialisation ------------------------------------------------------ */

/* What Windows puts in every MajorFunction entry a driver leaves unset. */
static NTSTATUS IopInvalidDeviceRequest(DEVICE_OBJECT *DeviceObject, PVOID Irp) {
    (void)DeviceObject;
    (void)Irp;
    return STATUS_INVALID_DEVICE_REQUEST;
}

/* The disk driver's entry point: mini-NT's driver is linked into the kernel
   and IoInitSystem does its work, so there is nothing left to set up. */
static NTSTATUS IopDiskDriverEntry(DRIVER_OBJECT *DriverObject, PUNICODE_STRING RegistryPath) {
    (void)DriverObject;
    (void)RegistryPath;
    return STATUS_SUCCESS;
}

/* Fills a driver object as IoCreateDriver does for a driver linked into the
   kernel (DriverStart, DriverSize and DriverSection stay NULL, as for
   Windows' own built-in drivers): its extension follows it in the same
   pool block and names its service key. */
static void IopInitializeDriverObject(DRIVER_OBJECT *d, const char *name, const char *service) {
    DRIVER_EXTENSION *ext = (DRIVER_EXTENSION *)(d + 1);
    d->Type = 4; /* IO_TYPE_DRIVER */
    d->Size = sizeof(DRIVER_OBJECT);
    d->Flags = 0x2; /* DRVO_LEGACY_DRIVER: no AddDevice, it makes its device itself */
    d->DriverExtension = ext;
    ext->DriverObject = d;
    RtlInitUnicodeFromAscii(&ext->ServiceKeyName, service);
    RtlInitUnicodeFromAscii(&d->DriverName, name);
    d->DriverInit = IopDiskDriverEntry;
    for (ULONG i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++) d->MajorFunction[i] = IopInvalidDeviceRequest;
}

void IoInitSystem(void) {
    FsSectorBuffer = ExAllocatePoolWithTag(NonPagedPool, SECTOR, 'bSsF');
    WRITE_PORT_UCHAR(ATA_CONTROL, 0x02); /* nIEN: polled, no interrupts */

    /* The driver, its device and the drive letter are named, as Windows
       names them: \Driver\atapi, \Device\HarddiskVolume1 and the link
       \GLOBAL??\C: (which \??\C: finds). */
    NTSTATUS st;
    IopDiskDriver = ObCreateNamedObject(IoDriverObjectType, sizeof(DRIVER_OBJECT) + sizeof(DRIVER_EXTENSION), "\\Driver\\atapi",
                                        sizeof("\\Driver\\atapi") - 1, &st);
    if (!IopDiskDriver || !NT_SUCCESS(st)) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0d, (ULONG64)(ULONG)st, 0, 0);
    IopInitializeDriverObject(IopDiskDriver, "\\Driver\\atapi", "atapi");

    DEVICE_OBJECT *dev = ObCreateNamedObject(IoDeviceObjectType, sizeof(DEVICE_OBJECT), "\\Device\\HarddiskVolume1",
                                             sizeof("\\Device\\HarddiskVolume1") - 1, &st);
    if (!dev || !NT_SUCCESS(st)) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0d, (ULONG64)(ULONG)st, 1, 0);
    dev->Type = IO_TYPE_DEVICE;
    dev->Size = sizeof(DEVICE_OBJECT);
    dev->DriverObject = IopDiskDriver;
    dev->DeviceType = FILE_DEVICE_DISK;
    dev->Characteristics = 0; /* a fixed disk: not FILE_FLOPPY_DISKETTE */
    dev->SectorSize = SECTOR;
    IopDiskDriver->DeviceObject = dev;
    IoBootVolume = dev;

    OBJECT_SYMBOLIC_LINK *link = ObCreateNamedObject(ObpSymbolicLinkObjectType, sizeof(OBJECT_SYMBOLIC_LINK),
                                                     "\\GLOBAL??\\C:", sizeof("\\GLOBAL??\\C:") - 1, &st);
    if (!link || !NT_SUCCESS(st)) KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x0d, (ULONG64)(ULONG)st, 2, 0);
    link->LinkTargetAscii = "\\Device\\HarddiskVolume1";
    RtlInitUnicodeFromAscii(&link->LinkTarget, link->LinkTargetAscii);
    link->CreationTime.QuadPart = (LONGLONG)KeTickCount;

    st = FsMount();
    if (!NT_SUCCESS(st)) KeBugCheckEx(INACCESSIBLE_BOOT_DEVICE, (ULONG64)(ULONG)st, 0, 0, 0);
}
