/*
 * Structure offsets for trap.S, as Windows' ksamd64.inc provides them:
 * compiled to assembly text only, and the Makefile turns each marker line
 * into a #define in out/ksamd64.h. The assembly never hard-codes a layout.
 */
#include "ke.h"

#define DEFINE(name, value) __asm__ volatile("\n#->#define " #name " %c0" ::"i"(value))

void GenerateOffsets(void) {
    DEFINE(PcUserRsp, offsetof(KPCR, UserRsp));
    DEFINE(PcRspBase, offsetof(KPCR, Prcb.RspBase));
    DEFINE(PcCurrentThread, offsetof(KPCR, Prcb.CurrentThread));
    DEFINE(ThTrapFrame, offsetof(KTHREAD, TrapFrame));
    DEFINE(TfR15, offsetof(KTRAP_FRAME, R15));
    DEFINE(TfR14, offsetof(KTRAP_FRAME, R14));
    DEFINE(TfR13, offsetof(KTRAP_FRAME, R13));
    DEFINE(TfR12, offsetof(KTRAP_FRAME, R12));
    DEFINE(TfRbp, offsetof(KTRAP_FRAME, Rbp));
    DEFINE(TfRbx, offsetof(KTRAP_FRAME, Rbx));
    DEFINE(TfRdi, offsetof(KTRAP_FRAME, Rdi));
    DEFINE(TfRsi, offsetof(KTRAP_FRAME, Rsi));
    DEFINE(TfRax, offsetof(KTRAP_FRAME, Rax));
    DEFINE(TfRcx, offsetof(KTRAP_FRAME, Rcx));
    DEFINE(TfRdx, offsetof(KTRAP_FRAME, Rdx));
    DEFINE(TfR8, offsetof(KTRAP_FRAME, R8));
    DEFINE(TfR9, offsetof(KTRAP_FRAME, R9));
    DEFINE(TfR10, offsetof(KTRAP_FRAME, R10));
    DEFINE(TfRip, offsetof(KTRAP_FRAME, Rip));
    DEFINE(TfSegCs, offsetof(KTRAP_FRAME, SegCs));
    DEFINE(TfEFlags, offsetof(KTRAP_FRAME, EFlags));
    DEFINE(TfRsp, offsetof(KTRAP_FRAME, Rsp));
    DEFINE(TfVector, offsetof(KTRAP_FRAME, Vector));
    DEFINE(KTRAP_FRAME_LENGTH, sizeof(KTRAP_FRAME));
    DEFINE(MmUserProbeAddress, MM_USER_PROBE_ADDRESS);
    DEFINE(KGDT64_R3_DATA_RPL, KGDT64_R3_DATA | RPL_MASK);
    DEFINE(KGDT64_R3_CODE_RPL, KGDT64_R3_CODE | RPL_MASK);
}
