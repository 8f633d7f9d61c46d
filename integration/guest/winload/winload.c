/*
 * winload: mini-NT's boot loader, a 32-bit multiboot kernel for QEMU -kernel.
 *
 * It does what Windows' winload.efi does for the parts Frost depends on:
 * it maps the whole kernel image (headers and every section at its RVA) at a
 * random 2 MiB-aligned base in [0xfffff80000000000, 0xfffff80800000000),
 * applies base relocations, builds 4-level page tables, enters long mode and
 * calls the PE entry point with a loader block.
 */
#include "../include/loaderblock.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define PAGE_SIZE 4096u
#define LARGE_PAGE_SIZE 0x200000ull

#define KASLR_START 0xfffff80000000000ull
#define KASLR_SLOTS 16384u /* 32 GiB of 2 MiB slots */
#define PHYSICAL_MAP_BASE 0xffff880000000000ull

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PS 0x80ull
#define PTE_NX 0x8000000000000000ull

struct multiboot_info {
    u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    u32 syms[4];
    u32 mmap_length, mmap_addr;
};
struct multiboot_module {
    u32 start, end, string, reserved;
};
struct multiboot_mmap {
    u32 size;
    u64 addr, len;
    u32 type;
} __attribute__((packed));

struct handoff {
    u64 Entry, Stack, LoaderBlock;
};

void EnterLongMode(u32 pml4, const struct handoff *h);
extern char _end[];

/* ---- serial ---------------------------------------------------------- */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void serial_init(void) {
    outb(0x3f9, 0x00);
    outb(0x3fb, 0x80);
    outb(0x3f8, 0x01); /* 115200 baud */
    outb(0x3f9, 0x00);
    outb(0x3fb, 0x03);
    outb(0x3fa, 0x00); /* no FIFO: each byte leaves at once */
}
static void putc(char c) {
    while (!(inb(0x3fd) & 0x20)) {
    }
    outb(0x3f8, (u8)c);
}
static void puts(const char *s) {
    while (*s) putc(*s++);
}
static void puthex(u64 v) {
    puts("0x");
    for (int i = 60; i >= 0; i -= 4) putc("0123456789abcdef"[(v >> i) & 0xf]);
}
/* Decimal without 64-bit division, which a freestanding -m32 build lacks. */
static void putdec(u64 v) {
    char buf[24];
    int n = 0;
    do {
        u64 q = 0, r = 0;
        for (int i = 63; i >= 0; i--) {
            r = (r << 1) | ((v >> i) & 1);
            if (r >= 10) {
                r -= 10;
                q |= 1ull << i;
            }
        }
        buf[n++] = (char)('0' + r);
        v = q;
    } while (v);
    while (n) putc(buf[--n]);
}

static void fail(const char *why) {
    puts("frost-guest: bugcheck code=0xdead0001 where=winload reason=");
    puts(why);
    puts("\n");
    for (;;) __asm__ volatile("cli; hlt");
}

/* ---- memory ---------------------------------------------------------- */

static u32 next_free; /* bump allocator over RAM above winload and modules */
static u64 ram_end;

static void memzero(void *p, u32 n) {
    u8 *b = p;
    while (n--) *b++ = 0;
}
static void memcopy(void *d, const void *s, u32 n) {
    u8 *a = d;
    const u8 *b = s;
    while (n--) *a++ = *b++;
}

static u32 alloc_pages(u32 count) {
    u32 p = next_free;
    u64 end = (u64)p + (u64)count * PAGE_SIZE;
    if (end > ram_end || end > 0xffffffffull) fail("out-of-memory");
    next_free = (u32)end;
    memzero((void *)p, count * PAGE_SIZE);
    return p;
}

static u64 *table_at(u64 *entry) {
    if (!(*entry & PTE_P)) *entry = (u64)alloc_pages(1) | PTE_P | PTE_W;
    return (u64 *)(u32)(*entry & 0x000ffffffffff000ull);
}

static u32 pml4;
/* See winload.ld: the linker places this page at 0x1AD000. */
static u64 boot_pml4[512] __attribute__((section(".pml4"), aligned(4096)));

static void map_4k(u64 va, u64 pa, u64 flags) {
    u64 *l4 = (u64 *)pml4;
    u64 *l3 = table_at(&l4[(va >> 39) & 511]);
    u64 *l2 = table_at(&l3[(va >> 30) & 511]);
    u64 *l1 = table_at(&l2[(va >> 21) & 511]);
    l1[(va >> 12) & 511] = pa | flags | PTE_P;
}

static void map_2m(u64 va, u64 pa, u64 flags) {
    u64 *l4 = (u64 *)pml4;
    u64 *l3 = table_at(&l4[(va >> 39) & 511]);
    u64 *l2 = table_at(&l3[(va >> 30) & 511]);
    l2[(va >> 21) & 511] = pa | flags | PTE_P | PTE_PS;
}

/* ---- command line ---------------------------------------------------- */

static int streq_n(const char *a, const char *b, u32 n) {
    for (u32 i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* Finds key=value in the command line; the value may be double-quoted.
   Returns its length, or -1 when the key is absent. */
static int find_option(const char *cmd, const char *key, const char **value) {
    u32 klen = 0;
    while (key[klen]) klen++;
    const char *p = cmd;
    while (*p) {
        while (*p == ' ') p++;
        const char *tok = p;
        int quoted = 0;
        while (*p && (quoted || *p != ' ')) {
            if (*p == '"') quoted = !quoted;
            p++;
        }
        if ((u32)(p - tok) > klen && streq_n(tok, key, klen) && tok[klen] == '=') {
            const char *v = tok + klen + 1;
            int len = (int)(p - v);
            if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
                v++;
                len -= 2;
            }
            *value = v;
            return len;
        }
    }
    return -1;
}

/* Is word a bare token of the command line? */
static int has_flag(const char *cmd, const char *word) {
    u32 n = 0;
    while (word[n]) n++;
    for (const char *p = cmd; *p;) {
        while (*p == ' ') p++;
        const char *tok = p;
        while (*p && *p != ' ') p++;
        if ((u32)(p - tok) == n && streq_n(tok, word, n)) return 1;
    }
    return 0;
}

static u64 parse_dec(const char *v, int len, int *ok) {
    u64 n = 0;
    *ok = len > 0;
    for (int i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            *ok = 0;
            return 0;
        }
        n = n * 10 + (u64)(v[i] - '0');
    }
    return n;
}

/* ---- randomness ------------------------------------------------------ */

static u64 splitmix64(u64 *state) {
    u64 z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static u8 cmos_read(u8 index) {
    outb(0x70, index);
    return inb(0x71);
}

static u64 rdtsc(void) {
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((u64)hi << 32) | lo;
}

/* ---- PE loading ------------------------------------------------------ */

static inline u16 rd16(const u8 *p) { return (u16)(p[0] | (p[1] << 8)); }
static inline u32 rd32(const u8 *p) { return (u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24); }
static inline u64 rd64(const u8 *p) { return (u64)rd32(p) | ((u64)rd32(p + 4) << 32); }

struct pe {
    const u8 *file;
    u32 file_size;
    const u8 *nt;  /* "PE\0\0" */
    const u8 *opt; /* optional header */
    const u8 *sections;
    u32 nsections;
    u32 size_of_image, size_of_headers, entry_rva;
    u64 image_base;
};

static void pe_parse(struct pe *pe, const u8 *file, u32 size) {
    if (size < 0x40 || file[0] != 'M' || file[1] != 'Z') fail("module-not-pe");
    u32 lfanew = rd32(file + 0x3c);
    if (lfanew > size - 0x108) fail("bad-e_lfanew");
    const u8 *nt = file + lfanew;
    if (rd32(nt) != 0x4550) fail("no-pe-signature");
    if (rd16(nt + 4) != 0x8664) fail("not-amd64");
    const u8 *opt = nt + 24;
    if (rd16(opt) != 0x20b) fail("not-pe32plus");
    pe->file = file;
    pe->file_size = size;
    pe->nt = nt;
    pe->opt = opt;
    pe->nsections = rd16(nt + 6);
    pe->sections = opt + rd16(nt + 20);
    pe->entry_rva = rd32(opt + 16);
    pe->image_base = rd64(opt + 24);
    pe->size_of_image = rd32(opt + 56);
    pe->size_of_headers = rd32(opt + 60);
    if ((u32)(pe->sections - file) + pe->nsections * 40 > size) fail("bad-section-table");
}

static u32 round_page(u32 n) { return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1); }

/* Copies the image to fresh physical pages, relocates it for base and maps
   it there with per-section protections. Returns the physical base. */
static u32 pe_load(const struct pe *pe, u64 base) {
    u32 pages = round_page(pe->size_of_image) / PAGE_SIZE;
    u32 phys = alloc_pages(pages);
    u8 *img = (u8 *)phys;
    if (pe->size_of_headers > pe->file_size || pe->size_of_headers > pe->size_of_image) fail("bad-headers");
    memcopy(img, pe->file, pe->size_of_headers);
    for (u32 i = 0; i < pe->nsections; i++) {
        const u8 *s = pe->sections + i * 40;
        u32 vsize = rd32(s + 8), va = rd32(s + 12), rawsize = rd32(s + 16), rawptr = rd32(s + 20);
        u32 n = rawsize < vsize ? rawsize : vsize;
        if (va + vsize > pe->size_of_image || rawptr + n > pe->file_size) fail("section-out-of-bounds");
        memcopy(img + va, pe->file + rawptr, n);
    }
    /* Base relocations (data directory 5). */
    u64 delta = base - pe->image_base;
    u32 rel_rva = rd32(pe->opt + 112 + 5 * 8), rel_size = rd32(pe->opt + 112 + 5 * 8 + 4);
    if (rel_rva + rel_size > pe->size_of_image) fail("bad-reloc-directory");
    for (u32 off = 0; off + 8 <= rel_size;) {
        const u8 *blk = img + rel_rva + off;
        u32 page = rd32(blk), bsize = rd32(blk + 4);
        if (bsize < 8 || off + bsize > rel_size) fail("bad-reloc-block");
        for (u32 e = 8; e + 2 <= bsize; e += 2) {
            u16 ent = rd16(blk + e);
            u32 type = ent >> 12, where = page + (ent & 0xfff);
            if (type == 0) continue;
            if (type != 10 || where + 8 > pe->size_of_image) fail("bad-reloc-entry");
            u64 *p = (u64 *)(img + where);
            *p += delta;
        }
        off += bsize;
    }
    /* As Windows' loader does, the in-memory headers name the real base. */
    u8 *opt = img + (pe->opt - pe->file);
    *(u64 *)(opt + 24) = base;

    /* Headers: read-only, no execute. Sections: by their characteristics. */
    for (u32 p = 0; p < round_page(pe->size_of_headers); p += PAGE_SIZE) map_4k(base + p, phys + p, PTE_NX);
    for (u32 i = 0; i < pe->nsections; i++) {
        const u8 *s = pe->sections + i * 40;
        u32 vsize = rd32(s + 8), va = rd32(s + 12), ch = rd32(s + 36);
        u64 flags = 0;
        if (ch & 0x80000000u) flags |= PTE_W;
        if (!(ch & 0x20000000u)) flags |= PTE_NX;
        for (u32 p = va & ~(PAGE_SIZE - 1); p < round_page(va + vsize); p += PAGE_SIZE) map_4k(base + p, phys + p, flags);
    }
    return phys;
}

/* Draws a 2 MiB-aligned base for an image of size bytes that overlaps no
   range in taken[0..ntaken). */
static u64 pick_base(u64 *rng, u32 size, const u32 *taken, u32 ntaken) {
    u32 slots = (size + (u32)LARGE_PAGE_SIZE - 1) / (u32)LARGE_PAGE_SIZE;
    for (int tries = 0; tries < 64; tries++) {
        u32 slot = (u32)(splitmix64(rng) >> 40) & (KASLR_SLOTS - 1);
        if (slot + slots > KASLR_SLOTS) slot = KASLR_SLOTS - slots;
        int clash = 0;
        for (u32 i = 0; i < ntaken; i += 2)
            if (slot < taken[i] + taken[i + 1] && taken[i] < slot + slots) clash = 1;
        if (!clash) return KASLR_START + (u64)slot * LARGE_PAGE_SIZE;
    }
    fail("no-kaslr-slot");
    return 0;
}

/* ---- main ------------------------------------------------------------ */

static struct handoff handoff;

static void copy_name(char *dst, u32 cap, const char *src) {
    u32 i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = src[i];
    dst[i] = 0;
}

void WinloadMain(u32 magic, struct multiboot_info *mbi) {
    serial_init();
    if (magic != 0x2BADB002) fail("not-multiboot");
    if (!(mbi->flags & (1u << 6))) fail("no-memory-map");
    if (!(mbi->flags & (1u << 3)) || mbi->mods_count < 2) fail("need-ntoskrnl-and-hal-modules");
    const char *cmd = (mbi->flags & (1u << 2)) ? (const char *)mbi->cmdline : "";

    /* RAM and the allocator's start: above winload and every module. */
    u32 top = (u32)_end;
    struct multiboot_module *mods = (struct multiboot_module *)mbi->mods_addr;
    for (u32 i = 0; i < mbi->mods_count; i++)
        if (mods[i].end > top) top = mods[i].end;
    next_free = round_page(top);
    u64 usable = 0;
    for (u32 off = 0; off < mbi->mmap_length;) {
        struct multiboot_mmap *m = (struct multiboot_mmap *)(mbi->mmap_addr + off);
        if (m->type == 1) {
            usable += m->len;
            if (m->addr + m->len > ram_end && m->addr <= next_free) ram_end = m->addr + m->len;
        }
        off += m->size + 4;
    }
    if (!ram_end) fail("no-ram-above-modules");
    if (ram_end > LOADER_MAX_MANAGED_RAM) ram_end = LOADER_MAX_MANAGED_RAM;

    /* Options. */
    const char *v;
    int len, ok;
    u64 seed;
    if ((len = find_option(cmd, "seed", &v)) >= 0) {
        seed = parse_dec(v, len, &ok);
        if (!ok) fail("bad-seed");
    } else {
        seed = rdtsc();
    }
    u32 writer_period = 1000;
    if ((len = find_option(cmd, "writerperiod", &v)) >= 0) {
        writer_period = (u32)parse_dec(v, len, &ok);
        if (!ok) fail("bad-writerperiod");
    }

    u32 swapper_pages = 2048;
    if ((len = find_option(cmd, "swapperpages", &v)) >= 0) {
        swapper_pages = (u32)parse_dec(v, len, &ok);
        if (!ok || swapper_pages == 0 || swapper_pages > 16384) fail("bad-swapperpages");
    }
    u32 flags = 0;
    if (has_flag(cmd, "noswizzle")) flags |= LOADER_FLAG_NOSWIZZLE;
    /* A machine reset keeps CMOS: the boot after a reset-once reset sees
       its mark, resets no more, and takes another seed. */
    u8 mark = cmos_read(CMOS_BOOT_COUNT);
    u32 boot = (mark & 0xF0) == CMOS_BOOT_MAGIC ? (mark & 0x0F) + 1u : 1u;
    if (has_flag(cmd, "resetonce") && boot == 1) flags |= LOADER_FLAG_RESET_ONCE;
    if (boot > 1) seed = splitmix64(&seed);
    if ((len = find_option(cmd, "trim", &v)) >= 0) {
        if (len == 10 && streq_n(v, "aggressive", 10))
            flags |= LOADER_FLAG_AGGRESSIVE_TRIM;
        else if (!(len == 6 && streq_n(v, "normal", 6)))
            fail("bad-trim");
    }

    pml4 = (u32)boot_pml4;
    if (pml4 != 0x1AD000u) fail("pml4-misplaced");
    memzero(boot_pml4, sizeof(boot_pml4));
    LOADER_PARAMETER_BLOCK *lb = (LOADER_PARAMETER_BLOCK *)alloc_pages(round_page(sizeof(*lb)) / PAGE_SIZE);
    lb->Signature = LOADER_BLOCK_SIGNATURE;
    lb->Size = sizeof(*lb);
    lb->Seed = seed;
    lb->WriterPeriodMs = writer_period;
    lb->Flags = flags;
    lb->SwapperPages = swapper_pages;
    lb->BootCount = boot;

    /* Strings live in the block itself; their VAs are in the physical map. */
    u64 lbva = PHYSICAL_MAP_BASE + (u32)lb;
    u32 sp = 0;
    lb->LoadOptions = lbva + __builtin_offsetof(LOADER_PARAMETER_BLOCK, Strings) + sp;
    if ((len = find_option(cmd, "loadoptions", &v)) >= 0) {
        if (len > 255) fail("loadoptions-too-long");
        memcopy(lb->Strings + sp, v, (u32)len);
        sp += (u32)len;
    }
    lb->Strings[sp++] = 0;
    lb->PagingFiles = lbva + __builtin_offsetof(LOADER_PARAMETER_BLOCK, Strings) + sp;
    if ((len = find_option(cmd, "pagingfiles", &v)) >= 0) {
        if (len > 512) fail("pagingfiles-too-long");
        for (int i = 0; i < len; i++) lb->Strings[sp++] = v[i] == ',' ? 0 : v[i];
        if (len) lb->Strings[sp++] = 0;
    }
    lb->Strings[sp++] = 0;

    /* Memory descriptors from the firmware map. */
    for (u32 off = 0; off < mbi->mmap_length && lb->MemoryDescriptorCount < LOADER_MAX_MEMORY_DESCRIPTORS;) {
        struct multiboot_mmap *m = (struct multiboot_mmap *)(mbi->mmap_addr + off);
        LOADER_MEMORY_DESCRIPTOR *d = &lb->MemoryDescriptors[lb->MemoryDescriptorCount++];
        d->BasePage = m->addr >> 12;
        d->PageCount = m->len >> 12;
        d->MemoryType = m->type == 1 ? LoaderFree : LoaderFirmwarePermanent;
        off += m->size + 4;
    }

    /* Kernel and HAL at random bases, a pure function of the seed. */
    u64 rng = seed;
    struct pe kpe, hpe;
    pe_parse(&kpe, (const u8 *)mods[0].start, mods[0].end - mods[0].start);
    pe_parse(&hpe, (const u8 *)mods[1].start, mods[1].end - mods[1].start);
    u32 taken[4];
    u64 kbase = pick_base(&rng, kpe.size_of_image, taken, 0);
    taken[0] = (u32)((kbase - KASLR_START) >> 21);
    taken[1] = (kpe.size_of_image + (u32)LARGE_PAGE_SIZE - 1) / (u32)LARGE_PAGE_SIZE;
    u64 hbase = pick_base(&rng, hpe.size_of_image, taken, 2);
    u32 kphys = pe_load(&kpe, kbase);
    u32 hphys = pe_load(&hpe, hbase);

    struct pe *pes[2] = {&kpe, &hpe};
    u64 bases[2] = {kbase, hbase};
    u32 physes[2] = {kphys, hphys};
    static const char *names[2] = {"ntoskrnl.exe", "hal.dll"};
    for (u32 i = 0; i < 2; i++) {
        LOADER_MODULE *m = &lb->Modules[i];
        m->DllBase = bases[i];
        m->PhysicalBase = physes[i];
        m->SizeOfImage = pes[i]->size_of_image;
        m->EntryPoint = bases[i] + pes[i]->entry_rva;
        copy_name(m->BaseDllName, sizeof(m->BaseDllName), names[i]);
    }
    lb->ModuleCount = 2;

    /* Boot stack, in the physical map. */
    u32 stack = alloc_pages(4);
    lb->BootStackTop = PHYSICAL_MAP_BASE + stack + 4 * PAGE_SIZE;

    /* Identity map (for this switch only; the kernel drops it) and the
       physical map, both with 2 MiB pages. Every table is allocated before
       FirstFreePhysical is recorded. */
    u64 map_size = (ram_end + LARGE_PAGE_SIZE - 1) & ~(LARGE_PAGE_SIZE - 1);
    for (u64 pa = 0; pa < map_size; pa += LARGE_PAGE_SIZE) {
        map_2m(pa, pa, PTE_W);
        map_2m(PHYSICAL_MAP_BASE + pa, pa, PTE_W | PTE_NX);
    }
    lb->PhysicalMapBase = PHYSICAL_MAP_BASE;
    lb->PhysicalMapSize = map_size;
    lb->Pml4Physical = pml4;
    lb->FirstFreePhysical = next_free;

    puts("frost-guest: loader seed=");
    putdec(seed);
    puts(" kernel-base=");
    puthex(kbase);
    puts(" hal-base=");
    puthex(hbase);
    puts(" ram-mb=");
    putdec(usable >> 20);
    puts(" boot=");
    putdec(boot);
    puts("\n");

    handoff.Entry = kbase + kpe.entry_rva;
    handoff.Stack = lb->BootStackTop;
    handoff.LoaderBlock = lbva;
    EnterLongMode(pml4, &handoff);
}
