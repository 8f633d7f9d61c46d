/*
 * PCI configuration mechanism #1: the address (enable bit, bus, device,
 * function, dword offset) goes to 0xCF8, the dword comes through 0xCFC.
 * The kernel runs with interrupts off, so the two accesses never
 * interleave with another pair.
 */
#include "pci.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC

static ULONG PciAddress(PCI_SLOT s, ULONG offset) {
    return 0x80000000u | ((ULONG)s.Bus << 16) | ((ULONG)(s.Device & 31) << 11) | ((ULONG)(s.Function & 7) << 8) |
           (offset & 0xFC);
}

ULONG PciReadConfig(PCI_SLOT s, ULONG offset) {
    WRITE_PORT_ULONG(PCI_CONFIG_ADDRESS, PciAddress(s, offset));
    return READ_PORT_ULONG(PCI_CONFIG_DATA);
}

void PciWriteConfig(PCI_SLOT s, ULONG offset, ULONG value) {
    WRITE_PORT_ULONG(PCI_CONFIG_ADDRESS, PciAddress(s, offset));
    WRITE_PORT_ULONG(PCI_CONFIG_DATA, value);
}

/* QEMU's pc machine puts every device on bus 0; a bridge's secondary
   buses are not walked. Function 0 of a device that is not multi-function
   (header type bit 7 clear) is its only one. */
BOOLEAN PciFindDevice(USHORT vendor, USHORT device, PCI_SLOT *out) {
    for (UCHAR dev = 0; dev < 32; dev++) {
        for (UCHAR fn = 0; fn < 8; fn++) {
            PCI_SLOT s = {0, dev, fn};
            ULONG id = PciReadConfig(s, 0);
            if ((id & 0xFFFF) == 0xFFFF) {
                if (fn == 0) break;
                continue;
            }
            if ((id & 0xFFFF) == vendor && (id >> 16) == device) {
                *out = s;
                return TRUE;
            }
            if (fn == 0 && !(PciReadConfig(s, 0x0C) & 0x00800000)) break;
        }
    }
    return FALSE;
}
