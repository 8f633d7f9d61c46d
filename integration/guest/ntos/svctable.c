/*
 * KiServiceTable as x64 Windows stores it: one 32-bit entry per service,
 * (offset of the routine from the table << 4) | its count of stack
 * arguments. KiSystemCall64 (trap.S) decodes an entry: the low 4 bits say
 * how many arguments to copy from the caller's stack, and the routine is
 * at KiServiceTable + (entry >> 4), shifted arithmetically, so a routine
 * may lie below the table. Phase 0 encodes the table from the routine list
 * in sysent.c, since neither C nor the linker can shift an address
 * difference.
 */
#include "ke.h"

extern const ULONG64 KiServiceRoutines[];
extern const UCHAR KiServiceArguments[];
extern ULONG KiServiceLimit;
extern LONG KiServiceTable[];

INITCODE void KiInitializeServiceTable(void) {
    LONG64 table = (LONG64)KiServiceTable;
    DbgPrint("frost-guest: service-table address=0x%llx limit=%u\n", (ULONG64)table, KiServiceLimit);
    for (ULONG i = 0; i < KiServiceLimit; i++) {
        LONG64 offset = (LONG64)KiServiceRoutines[i] - table;
        /* 28 bits of signed offset and 4 of count are all an entry holds. */
        if (offset < -(1ll << 27) || offset >= (1ll << 27) || KiServiceArguments[i] > 15)
            KeBugCheckEx(PHASE1_INITIALIZATION_FAILED, 0x55, i, (ULONG64)offset, KiServiceArguments[i]);
        KiServiceTable[i] = (LONG)(offset * 16) | KiServiceArguments[i];
        DbgPrint("frost-guest: service number=%u entry=0x%08x routine=0x%llx arguments=%u\n", i,
                 (ULONG)KiServiceTable[i], KiServiceRoutines[i], (ULONG)KiServiceArguments[i]);
    }
}
