/*
 * writer.exe's WriterWrite, in a compilation unit of its own because it is
 * built with -mno-stack-arg-probe (see the Makefile): its frame's size is
 * known only at run time, which on Windows x64 would otherwise call
 * __chkstk, and mini-NT's images link no runtime.
 */
#include "ntdll.h"

/* How many status blocks WriterWrite gives the call: read at run time, so
   the compiler cannot size the frame; it is always 1. */
volatile ULONG WriterStatusSlots = 1;

/* Writes message count through frostrt.dll with a scratch status block
   allocated on the stack at run time (alloca): rsp moves by an amount
   only known then, so the function addresses its frame through rbp, a
   frame register (UWOP_SET_FPREG in its unwind data), and an unwinder
   must use it. Like a /GS cookie, a word at a fixed place in the frame is
   checked after the call; being a fixed local, it also sets rbp at an
   offset from rsp (the unwind data's FrameOffset). */
__attribute__((noinline)) NTSTATUS WriterWrite(HANDLE file, IO_STATUS_BLOCK *iosb, ULONG count) {
    FrostStackRecord(__builtin_return_address(0));
    volatile ULONG64 cookie[2] = {0x46524F53542D4653ull, count};
    ULONG slots = WriterStatusSlots;
    IO_STATUS_BLOCK *scratch = __builtin_alloca(slots * sizeof(IO_STATUS_BLOCK));
    NTSTATUS st = FrostWriteMessage((PVOID)NtWriteFile, file, scratch, count);
    *iosb = scratch[0];
    if (cookie[0] != 0x46524F53542D4653ull || cookie[1] != count)
        DbgPrint("frost-guest: writer-error what=frame-cookie count=%u\n", count);
    return st;
}
