/*
 * PCI configuration space through configuration mechanism #1 (ports
 * 0xCF8/0xCFC), and device register access. Used by the e1000 miniport.
 */
#ifndef MININT_PCI_H
#define MININT_PCI_H

#include "ke.h"

static inline void WRITE_PORT_ULONG(USHORT p, ULONG v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
static inline ULONG READ_PORT_ULONG(USHORT p) {
    ULONG v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline ULONG READ_REGISTER_ULONG(volatile ULONG *r) { return *r; }
static inline void WRITE_REGISTER_ULONG(volatile ULONG *r, ULONG v) { *r = v; }

/* A function on bus 0..255 as bus:device.function. */
typedef struct _PCI_SLOT {
    UCHAR Bus, Device, Function;
} PCI_SLOT;

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_BAR0 0x10

ULONG PciReadConfig(PCI_SLOT s, ULONG offset);
void PciWriteConfig(PCI_SLOT s, ULONG offset, ULONG value);
/* Finds the first function with this vendor and device id; FALSE if none. */
BOOLEAN PciFindDevice(USHORT vendor, USHORT device, PCI_SLOT *out);

/* mm.c: maps size bytes of device memory at physical address pa into
   kernel space, uncached (PCD|PWT); returns the VA of pa. */
PVOID MmMapIoSpace(ULONG64 pa, SIZE_T size);

#endif
