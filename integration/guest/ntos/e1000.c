/*
 * The miniport for QEMU's e1000 (Intel 82540EM, 8086:100E), polled: legacy
 * descriptors in one transmit and one receive ring, interrupts masked. A
 * System thread (E1000ReceiveThread) polls the receive ring every clock
 * tick and indicates what arrived; sends complete before
 * NdisSendNetBufferLists returns (the kernel runs with interrupts off, so
 * the send path is never re-entered and needs no lock).
 *
 * Every frame sent and received is reported on the serial line:
 *   frost-guest: net-tx seq=N len=L hash=0xH proto=P mdls=M off=O
 *   frost-guest: net-rx seq=N len=L hash=0xH proto=P mdls=M off=O
 * seq counts frames per direction from 1, L is the frame's length without
 * CRC, H its FNV-1a 32 hash (NdisFrameHash), P arp, icmp, udp, tcp, ipv4,
 * ipv6 or eth-XXXX (the EtherType), M the MDLs the NET_BUFFER's data spans
 * and O its DataOffset. The receiver strips the CRC (RCTL.SECRC).
 */
#include "pci.h"
#include "ndis.h"

#define E1000_VENDOR 0x8086
#define E1000_DEVICE 0x100E

/* Registers (byte offsets into BAR0). */
#define E1000_CTRL 0x0000
#define E1000_STATUS 0x0008
#define E1000_EERD 0x0014
#define E1000_IMC 0x00D8
#define E1000_RCTL 0x0100
#define E1000_TCTL 0x0400
#define E1000_TIPG 0x0410
#define E1000_RDBAL 0x2800
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_MTA 0x5200
#define E1000_RAL0 0x5400
#define E1000_RAH0 0x5404

#define E1000_CTRL_SLU (1u << 6)
#define E1000_CTRL_RST (1u << 26)
#define E1000_STATUS_LU (1u << 1)
#define E1000_EERD_START 1u
#define E1000_EERD_DONE (1u << 4)
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_BAM (1u << 15)   /* accept broadcast */
#define E1000_RCTL_SECRC (1u << 26) /* strip the CRC */
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)
#define E1000_RAH_AV (1u << 31)

#define E1000_TXD_CMD_EOP 0x01
#define E1000_TXD_CMD_IFCS 0x02
#define E1000_TXD_CMD_RS 0x08
#define E1000_TXD_STAT_DD 0x01
#define E1000_RXD_STAT_DD 0x01
#define E1000_RXD_STAT_EOP 0x02

/* Ring sizes are multiples of 8 (the rings' lengths of 128 bytes). */
#define E1000_TX_RING 64
#define E1000_RX_RING 32
#define E1000_BUFFER_SIZE 2048 /* RCTL.BSIZE 00: 2048 bytes */
/* The NIC writes a received frame this far into its buffer: the bytes
   before it are the headroom some receive layouts put in the MDL chain. */
#define E1000_RX_HEADROOM 64
/* A frame's pieces each get a descriptor; pieces past this many share the
   last one's buffer. */
#define E1000_TX_MAX_SEGMENTS 8
/* Frames indicated in one call at most. */
#define E1000_RX_BATCH 8

typedef struct _E1000_TX_DESC {
    ULONG64 BufferAddress;
    USHORT Length;
    UCHAR Cso;
    UCHAR Cmd;
    UCHAR Status;
    UCHAR Css;
    USHORT Special;
} E1000_TX_DESC;

typedef struct _E1000_RX_DESC {
    ULONG64 BufferAddress;
    USHORT Length;
    USHORT Checksum;
    UCHAR Status;
    UCHAR Errors;
    USHORT Special;
} E1000_RX_DESC;

_Static_assert(sizeof(E1000_TX_DESC) == 16 && sizeof(E1000_RX_DESC) == 16, "e1000 descriptors are 16 bytes");

/* One receive buffer and what describes it to the protocol. */
typedef struct _E1000_RX_SLOT {
    PUCHAR Frame; /* where the NIC writes, E1000_RX_HEADROOM into the buffer */
    ULONG64 FramePhysical;
    PNET_BUFFER_LIST Nbl;
    MDL Mdl[2];
} E1000_RX_SLOT;

typedef struct _E1000_ADAPTER {
    PNDIS_MINIPORT_BLOCK MiniportAdapterHandle;
    PCI_SLOT Slot;
    ULONG64 RegistersPhysical;
    volatile ULONG *Registers;
    UCHAR PermanentAddress[6];
    E1000_TX_DESC *TxRing;
    PUCHAR TxBuffer[E1000_TX_RING];
    ULONG64 TxBufferPhysical[E1000_TX_RING];
    ULONG TxTail;
    E1000_RX_DESC *RxRing;
    E1000_RX_SLOT Rx[E1000_RX_RING];
    ULONG RxNext;
    ULONG64 TxFrames, RxFrames, TxErrors, RxErrors;
} E1000_ADAPTER;

static NDIS_MINIPORT_BLOCK E1000Miniport;
/* The frame being reported, gathered from its NET_BUFFER. */
static UCHAR E1000ReportFrame[NDIS_MAX_FRAME_SIZE];

static ULONG E1000Read(E1000_ADAPTER *a, ULONG reg) { return READ_REGISTER_ULONG(a->Registers + reg / 4); }
static void E1000Write(E1000_ADAPTER *a, ULONG reg, ULONG v) { WRITE_REGISTER_ULONG(a->Registers + reg / 4, v); }

/* A zeroed physical page for the NIC to reach: its physical address, and
   its kernel VA in the physical map. */
static PUCHAR E1000AllocateDmaPage(ULONG64 *pa) {
    *pa = MiAllocatePhysicalPage();
    return MmGetVirtualForPhysical(*pa);
}

static const char *E1000Protocol(const UCHAR *f, ULONG len, char *other) {
    if (len < 14) return "short";
    USHORT type = (USHORT)(f[12] << 8 | f[13]);
    if (type == 0x0806) return "arp";
    if (type == 0x86DD) return "ipv6";
    if (type == 0x0800) {
        if (len < 34) return "ipv4";
        switch (f[23]) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        default: return "ipv4";
        }
    }
    static const char hex[] = "0123456789abcdef";
    memcpy(other, "eth-", 4);
    for (int i = 0; i < 4; i++) other[4 + i] = hex[(type >> (12 - 4 * i)) & 15];
    other[8] = 0;
    return other;
}

static ULONG E1000CountMdls(PNET_BUFFER nb) {
    ULONG n = 0, off = nb->CurrentMdlOffset, left = nb->DataLength;
    for (PMDL m = nb->CurrentMdl; m && left; m = m->Next, off = 0) {
        ULONG take = m->ByteCount - off < left ? m->ByteCount - off : left;
        if (take) n++;
        left -= take;
    }
    return n;
}

static void E1000Report(const char *dir, ULONG64 seq, const UCHAR *f, ULONG len, PNET_BUFFER nb) {
    char other[9];
    DbgPrint("frost-guest: net-%s seq=%llu len=%u hash=0x%08x proto=%s mdls=%u off=%u\n", dir, seq, len,
             NdisFrameHash(f, len), E1000Protocol(f, len, other), E1000CountMdls(nb), nb->DataOffset);
}

/* ---- send ------------------------------------------------------------------ */

/* Puts nb's frame on the transmit ring, one descriptor per MDL piece, and
   waits for the NIC to have read it. */
static NDIS_STATUS E1000SendNetBuffer(E1000_ADAPTER *a, PNET_BUFFER nb) {
    ULONG len = nb->DataLength;
    if (len < 14 || len > NDIS_MAX_FRAME_SIZE || NdisCopyFromNetBuffer(nb, E1000ReportFrame, len) != len) {
        a->TxErrors++;
        DbgPrint("frost-guest: net-tx-error len=%u off=%u reason=%s\n", len, nb->DataOffset,
                 len < 14 || len > NDIS_MAX_FRAME_SIZE ? "length" : "mdl-chain");
        return len < 14 || len > NDIS_MAX_FRAME_SIZE ? NDIS_STATUS_INVALID_LENGTH : NDIS_STATUS_INVALID_PARAMETER;
    }
    ULONG slot = a->TxTail, used = 0, left = len, off = nb->CurrentMdlOffset;
    E1000_TX_DESC *d = NULL;
    for (PMDL m = nb->CurrentMdl; m && left; m = m->Next, off = 0) {
        ULONG take = m->ByteCount - off < left ? m->ByteCount - off : left;
        if (!take) continue;
        if (used < E1000_TX_MAX_SEGMENTS) {
            d = &a->TxRing[slot];
            d->BufferAddress = a->TxBufferPhysical[slot];
            d->Length = 0;
            d->Cmd = 0;
            d->Status = 0;
            slot = (slot + 1) % E1000_TX_RING;
            used++;
        }
        ULONG i = (ULONG)(d - a->TxRing);
        memcpy(a->TxBuffer[i] + d->Length, (PUCHAR)m->MappedSystemVa + off, take);
        d->Length = (USHORT)(d->Length + take);
        left -= take;
    }
    d->Cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;
    a->TxTail = slot;
    __asm__ volatile("" ::: "memory");
    E1000Write(a, E1000_TDT, slot);
    /* QEMU sends on the TDT write; a real NIC would take microseconds. */
    for (ULONG spin = 0; !(((volatile E1000_TX_DESC *)d)->Status & E1000_TXD_STAT_DD); spin++) {
        if (spin == 10000000) {
            a->TxErrors++;
            DbgPrint("frost-guest: net-tx-error len=%u reason=timeout tdh=%u tdt=%u\n", len, E1000Read(a, E1000_TDH),
                     slot);
            return NDIS_STATUS_FAILURE;
        }
    }
    a->TxFrames++;
    E1000Miniport.SentFrames++;
    E1000Report("tx", a->TxFrames, E1000ReportFrame, len, nb);
    return NDIS_STATUS_SUCCESS;
}

static VOID E1000SendNetBufferLists(NDIS_HANDLE MiniportAdapterContext, PNET_BUFFER_LIST NetBufferLists,
                                    NDIS_PORT_NUMBER PortNumber, ULONG SendFlags) {
    E1000_ADAPTER *a = MiniportAdapterContext;
    for (PNET_BUFFER_LIST nbl = NetBufferLists; nbl; nbl = nbl->Next) {
        NDIS_STATUS st = NDIS_STATUS_SUCCESS;
        for (PNET_BUFFER nb = nbl->FirstNetBuffer; nb; nb = nb->Next) {
            NDIS_STATUS s = E1000SendNetBuffer(a, nb);
            if (s != NDIS_STATUS_SUCCESS) st = s;
        }
        nbl->Status = st;
    }
    NdisMSendNetBufferListsComplete(a->MiniportAdapterHandle, NetBufferLists, 0);
}

/* ---- receive ------------------------------------------------------------------ */

/* Describes the len bytes at slot's frame to its NET_BUFFER, in one of
   three layouts by frame number, so a reader meets each: the frame in one
   MDL at offset 0; in two MDLs, starting 10 bytes into the first (10 bytes
   of headroom) and split 20 bytes into the frame; in two MDLs whose first
   is all headroom (10 bytes), starting 6 bytes into the second
   (DataOffset 16, CurrentMdl the second MDL). Headroom is filled with 0xEE. */
static void E1000DescribeFrame(E1000_RX_SLOT *s, ULONG len, ULONG64 seq) {
    PUCHAR f = s->Frame;
    PNET_BUFFER nb = s->Nbl->FirstNetBuffer;
    ULONG layout = len > 20 ? (ULONG)(seq % 3) : 0;
    if (layout == 0) {
        NdisInitializeMdl(&s->Mdl[0], f, len);
        NdisSetNetBufferData(nb, &s->Mdl[0], 0, len);
        return;
    }
    memset(f - 16, 0xEE, 16);
    if (layout == 1) {
        NdisInitializeMdl(&s->Mdl[0], f - 10, 30);
        NdisInitializeMdl(&s->Mdl[1], f + 20, len - 20);
        s->Mdl[0].Next = &s->Mdl[1];
        NdisSetNetBufferData(nb, &s->Mdl[0], 10, len);
        return;
    }
    NdisInitializeMdl(&s->Mdl[0], f - 16, 10);
    NdisInitializeMdl(&s->Mdl[1], f - 6, len + 6);
    s->Mdl[0].Next = &s->Mdl[1];
    NdisSetNetBufferData(nb, &s->Mdl[0], 16, len);
}

/* Indicates the frames the NIC has written, up to E1000_RX_BATCH as one
   chain, then gives their descriptors back. Returns how many there were. */
static ULONG E1000ReceivePoll(E1000_ADAPTER *a) {
    PNET_BUFFER_LIST chain = NULL, *tail = &chain;
    ULONG n = 0, seen = 0, i = a->RxNext;
    while (seen < E1000_RX_BATCH) {
        volatile E1000_RX_DESC *d = &a->RxRing[i];
        if (!(d->Status & E1000_RXD_STAT_DD)) break;
        ULONG len = d->Length;
        E1000_RX_SLOT *s = &a->Rx[i];
        seen++;
        if (!(d->Status & E1000_RXD_STAT_EOP) || d->Errors || len < 14 || len > NDIS_MAX_FRAME_SIZE) {
            /* 2048-byte buffers hold any frame, so a frame over several
               descriptors is an error too. */
            a->RxErrors++;
            DbgPrint("frost-guest: net-rx-error len=%u status=0x%x errors=0x%x\n", len, (ULONG)d->Status,
                     (ULONG)d->Errors);
        } else {
            a->RxFrames++;
            E1000DescribeFrame(s, len, a->RxFrames);
            E1000Report("rx", a->RxFrames, s->Frame, len, s->Nbl->FirstNetBuffer);
            s->Nbl->Next = NULL;
            s->Nbl->Status = NDIS_STATUS_SUCCESS;
            *tail = s->Nbl;
            tail = &s->Nbl->Next;
            n++;
        }
        i = (i + 1) % E1000_RX_RING;
    }
    if (n) NdisMIndicateReceiveNetBufferLists(a->MiniportAdapterHandle, chain, NDIS_DEFAULT_PORT_NUMBER, n, 0);
    /* Back to the NIC, now the protocol has returned. */
    for (ULONG k = 0; k < seen; k++) {
        ULONG j = a->RxNext;
        a->RxRing[j].Status = 0;
        a->RxRing[j].Length = 0;
        a->RxNext = (j + 1) % E1000_RX_RING;
        __asm__ volatile("" ::: "memory");
        E1000Write(a, E1000_RDT, j);
    }
    return seen;
}

static void E1000ReceiveThread(PVOID Context) {
    E1000_ADAPTER *a = Context;
    for (;;) {
        if (!E1000ReceivePoll(a)) KeDelayExecutionThread(1);
    }
}

/* ---- start ---------------------------------------------------------------------- */

static USHORT E1000ReadEeprom(E1000_ADAPTER *a, ULONG word) {
    E1000Write(a, E1000_EERD, (word << 8) | E1000_EERD_START);
    for (ULONG spin = 0; spin < 1000000; spin++) {
        ULONG v = E1000Read(a, E1000_EERD);
        if (v & E1000_EERD_DONE) return (USHORT)(v >> 16);
    }
    return 0xFFFF;
}

static void E1000InitializeRings(E1000_ADAPTER *a) {
    ULONG64 pa;
    a->TxRing = (E1000_TX_DESC *)E1000AllocateDmaPage(&pa);
    _Static_assert(E1000_TX_RING * sizeof(E1000_TX_DESC) <= PAGE_SIZE, "one page of TX descriptors");
    E1000Write(a, E1000_TDBAL, (ULONG)pa);
    E1000Write(a, E1000_TDBAH, (ULONG)(pa >> 32));
    E1000Write(a, E1000_TDLEN, E1000_TX_RING * sizeof(E1000_TX_DESC));
    E1000Write(a, E1000_TDH, 0);
    E1000Write(a, E1000_TDT, 0);
    for (ULONG i = 0; i < E1000_TX_RING; i += 2) {
        PUCHAR page = E1000AllocateDmaPage(&pa);
        a->TxBuffer[i] = page, a->TxBufferPhysical[i] = pa;
        a->TxBuffer[i + 1] = page + E1000_BUFFER_SIZE, a->TxBufferPhysical[i + 1] = pa + E1000_BUFFER_SIZE;
    }
    E1000Write(a, E1000_TIPG, 10 | (8 << 10) | (6 << 20));
    E1000Write(a, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | (0x10 << 4) | (0x40 << 12));

    a->RxRing = (E1000_RX_DESC *)E1000AllocateDmaPage(&pa);
    E1000Write(a, E1000_RDBAL, (ULONG)pa);
    E1000Write(a, E1000_RDBAH, (ULONG)(pa >> 32));
    E1000Write(a, E1000_RDLEN, E1000_RX_RING * sizeof(E1000_RX_DESC));
    for (ULONG i = 0; i < E1000_RX_RING; i += 2) {
        PUCHAR page = E1000AllocateDmaPage(&pa);
        for (ULONG k = 0; k < 2; k++) {
            E1000_RX_SLOT *s = &a->Rx[i + k];
            s->Frame = page + k * E1000_BUFFER_SIZE + E1000_RX_HEADROOM;
            s->FramePhysical = pa + k * E1000_BUFFER_SIZE + E1000_RX_HEADROOM;
            s->Nbl = NdisAllocateNetBufferAndNetBufferList(NULL, 0, 0, NULL, 0, 0);
            s->Nbl->SourceHandle = a->MiniportAdapterHandle;
            a->RxRing[i + k].BufferAddress = s->FramePhysical;
        }
    }
    E1000Write(a, E1000_RDH, 0);
    E1000Write(a, E1000_RDT, E1000_RX_RING - 1);
    E1000Write(a, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_SECRC);
}

VOID NdisInitializeNetwork(VOID) {
    PCI_SLOT slot;
    if (!PciFindDevice(E1000_VENDOR, E1000_DEVICE, &slot)) return;
    ULONG bar = PciReadConfig(slot, PCI_BAR0);
    if ((bar & 1) || (bar & ~0xFu) == 0) {
        DbgPrint("frost-guest: net-error pci=%u:%u.%u bar0=0x%x reason=bar0\n", (ULONG)slot.Bus, (ULONG)slot.Device,
                 (ULONG)slot.Function, bar);
        return;
    }
    PciWriteConfig(slot, PCI_COMMAND, PciReadConfig(slot, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

    E1000_ADAPTER *a = ExAllocatePoolWithTag(NonPagedPool, sizeof(E1000_ADAPTER), 'k1eE');
    a->Slot = slot;
    a->RegistersPhysical = bar & ~0xFu;
    a->Registers = MmMapIoSpace(a->RegistersPhysical, 0x20000);
    a->MiniportAdapterHandle = &E1000Miniport;

    E1000Write(a, E1000_IMC, 0xFFFFFFFF);
    E1000Write(a, E1000_CTRL, E1000Read(a, E1000_CTRL) | E1000_CTRL_RST);
    for (ULONG spin = 0; spin < 1000000 && (E1000Read(a, E1000_CTRL) & E1000_CTRL_RST); spin++) {
    }
    E1000Write(a, E1000_IMC, 0xFFFFFFFF);
    E1000Write(a, E1000_CTRL, E1000Read(a, E1000_CTRL) | E1000_CTRL_SLU);

    /* The permanent address is the EEPROM's first three words; the
       receive-address register takes it, marked valid. */
    for (ULONG w = 0; w < 3; w++) {
        USHORT v = E1000ReadEeprom(a, w);
        a->PermanentAddress[2 * w] = (UCHAR)v;
        a->PermanentAddress[2 * w + 1] = (UCHAR)(v >> 8);
    }
    const UCHAR *m = a->PermanentAddress;
    E1000Write(a, E1000_RAL0, m[0] | m[1] << 8 | m[2] << 16 | (ULONG)m[3] << 24);
    E1000Write(a, E1000_RAH0, m[4] | m[5] << 8 | E1000_RAH_AV);
    for (ULONG i = 0; i < 128; i++) E1000Write(a, E1000_MTA + 4 * i, 0);

    E1000InitializeRings(a);

    E1000Miniport.MiniportAdapterContext = a;
    E1000Miniport.SendNetBufferListsHandler = E1000SendNetBufferLists;
    memcpy(E1000Miniport.CurrentAddress, a->PermanentAddress, 6);
    E1000Miniport.MaxFrameSize = NDIS_MAX_FRAME_SIZE;
    NdisMiniportList = &E1000Miniport;
    DbgPrint("frost-guest: net-up mac=%02x:%02x:%02x:%02x:%02x:%02x pci=%u:%u.%u bar0=0x%llx link=%s tx=%u rx=%u "
             "crc=stripped\n",
             (ULONG)m[0], (ULONG)m[1], (ULONG)m[2], (ULONG)m[3], (ULONG)m[4], (ULONG)m[5], (ULONG)slot.Bus,
             (ULONG)slot.Device, (ULONG)slot.Function, a->RegistersPhysical,
             (E1000Read(a, E1000_STATUS) & E1000_STATUS_LU) ? "up" : "down", E1000_TX_RING, E1000_RX_RING);

    PspCreateThread(PsInitialSystemProcess, E1000ReceiveThread, a);
    NdisSendStartupCheck(&E1000Miniport);
}
