/*
 * The loader block winload hands to KiSystemStartup. winload is 32-bit and
 * the kernel 64-bit, so every field has a fixed width and explicit padding:
 * both compilers must agree on the layout. Pointers are 64-bit kernel VAs
 * stored as integers.
 */
#ifndef MININT_LOADERBLOCK_H
#define MININT_LOADERBLOCK_H

#define LOADER_BLOCK_SIGNATURE 0x4B4C4E46u /* "FNLK" */
#define LOADER_MAX_MEMORY_DESCRIPTORS 32
#define LOADER_MAX_MODULES 4

/* Boot options the kernel acts on. */
#define LOADER_FLAG_NOSWIZZLE 0x1      /* L1TF mitigation off: no PTE swizzling */
#define LOADER_FLAG_AGGRESSIVE_TRIM 0x2 /* trim page-table pages too */
#define LOADER_FLAG_RESET_ONCE 0x4      /* reset the machine once during phase 1 */

/* CMOS byte that survives a reset of the machine (not a new QEMU): the
   high nibble marks it as mini-NT's, the low one counts boots. */
#define CMOS_BOOT_COUNT 0x7D
#define CMOS_BOOT_MAGIC 0xA0

/* mini-NT manages at most this much RAM (as /MAXMEM would), so a large
   -m costs nothing. */
#define LOADER_MAX_MANAGED_RAM 0x10000000ull

/* Memory descriptor types, after Windows' TYPE_OF_MEMORY (subset). */
#define LoaderFree 2
#define LoaderFirmwarePermanent 9
#define LoaderLoadedProgram 3

typedef struct _LOADER_MEMORY_DESCRIPTOR {
    unsigned long long BasePage;
    unsigned long long PageCount;
    unsigned int MemoryType;
    unsigned int Reserved;
} LOADER_MEMORY_DESCRIPTOR;

typedef struct _LOADER_MODULE {
    unsigned long long DllBase;     /* kernel VA */
    unsigned long long PhysicalBase;
    unsigned long long SizeOfImage;
    unsigned long long EntryPoint;  /* kernel VA */
    char BaseDllName[32];
} LOADER_MODULE;

typedef struct _LOADER_PARAMETER_BLOCK {
    unsigned int Signature;
    unsigned int Size;
    unsigned long long Seed;
    /* Where winload mapped all of physical memory (2 MiB pages). */
    unsigned long long PhysicalMapBase;
    unsigned long long PhysicalMapSize;
    /* The PML4 the kernel starts on. */
    unsigned long long Pml4Physical;
    /* Every physical page below this is in use by winload's allocations. */
    unsigned long long FirstFreePhysical;
    unsigned long long BootStackTop;     /* kernel VA */
    unsigned long long LoadOptions;      /* kernel VA of a NUL-terminated string */
    /* Registry value PagingFiles: kernel VA of a string list, each entry
       NUL-terminated, an empty entry ends it (REG_MULTI_SZ in ASCII). */
    unsigned long long PagingFiles;
    unsigned int WriterPeriodMs;
    unsigned int Flags;        /* LOADER_FLAG_* */
    unsigned int SwapperPages; /* swapper.exe's pattern pages */
    unsigned int BootCount;    /* 1, or 2 after a reset-once reset */
    unsigned int Reserved2;
    unsigned int ModuleCount;
    LOADER_MODULE Modules[LOADER_MAX_MODULES];
    unsigned int MemoryDescriptorCount;
    unsigned int Reserved;
    LOADER_MEMORY_DESCRIPTOR MemoryDescriptors[LOADER_MAX_MEMORY_DESCRIPTORS];
    char Strings[1024]; /* backing store for LoadOptions and PagingFiles */
} LOADER_PARAMETER_BLOCK;

#endif
