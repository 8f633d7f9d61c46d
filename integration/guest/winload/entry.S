/*
 * winload's 32-bit entry: the multiboot header QEMU's -kernel looks for, the
 * boot stack, and the switch into long mode that ends in the kernel's PE
 * entry point.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, give memory info */

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .bss
    .balign 16
stack_bottom:
    .skip 16384
stack_top:

    .section .text
    .code32
    .globl _start
_start:
    cli
    mov $stack_top, %esp
    push %ebx               /* multiboot information */
    push %eax               /* multiboot magic */
    call WinloadMain
1:  hlt
    jmp 1b

/*
 * void EnterLongMode(u32 pml4, const HANDOFF *handoff)
 * HANDOFF is { u64 Entry; u64 Stack; u64 LoaderBlock; } below 4 GiB.
 * Paging is off on entry; the tables identity-map winload itself, so the
 * far jump lands in 64-bit code at the same address.
 */
    .globl EnterLongMode
EnterLongMode:
    mov 4(%esp), %eax
    mov 8(%esp), %esi
    mov %eax, %cr3
    mov %cr4, %eax
    or $0x20, %eax          /* PAE */
    mov %eax, %cr4
    mov $0xC0000080, %ecx   /* EFER */
    rdmsr
    or $0x900, %eax         /* LME | NXE */
    wrmsr
    mov %cr0, %eax
    or $0x80010001, %eax    /* PG | WP | PE */
    mov %eax, %cr0
    lgdt gdt_descriptor
    ljmp $0x08, $long_mode

    .code64
long_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov %esi, %esi          /* upper halves are undefined after the switch */
    mov 8(%rsi), %rsp
    mov 16(%rsi), %rcx      /* first argument (MS x64): the loader block */
    mov 0(%rsi), %rax
    sub $0x20, %rsp         /* home space for the callee's register args */
    call *%rax
2:  hlt
    jmp 2b

    .section .rodata
    .balign 16
gdt:
    .quad 0
    .quad 0x00209A0000000000 /* 0x08: 64-bit ring 0 code */
    .quad 0x0000920000000000 /* 0x10: ring 0 data */
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt
