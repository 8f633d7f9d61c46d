/*
 * NDIS's start-up check: once the adapter is up, two ARP frames go out
 * through NdisSendNetBufferLists as one chain of two NBLs, each frame in
 * two MDLs at a non-zero DataOffset: an announcement of 10.0.2.15 (a
 * gratuitous ARP) and a request for the gateway 10.0.2.2, which QEMU's
 * user-mode network answers, so the first received frame is real. Both
 * complete back to NDIS's own open, not the protocol's.
 */
#include "ke.h"
#include "ndis.h"

static NDIS_OPEN_BLOCK NdisSelfOpen;

#define NDIS_CHECK_HEADROOM 8
static UCHAR NdisCheckFrames[2][NDIS_CHECK_HEADROOM + 42];

static VOID NdisSelfSendComplete(NDIS_HANDLE Context, PNET_BUFFER_LIST NetBufferLists, ULONG Flags) {
    while (NetBufferLists) {
        PNET_BUFFER_LIST next = NetBufferLists->Next;
        PMDL m = NetBufferLists->FirstNetBuffer->MdlChain;
        while (m) {
            PMDL n = m->Next;
            NdisFreeMdl(m);
            m = n;
        }
        DbgPrint("frost-guest: net-check status=0x%x\n", (ULONG)NetBufferLists->Status);
        NdisFreeNetBufferList(NetBufferLists);
        NetBufferLists = next;
    }
}

/* An ARP request from mac/10.0.2.15 for target, into f (42 bytes). */
static void NdisBuildArp(UCHAR *f, const UCHAR mac[6], const UCHAR target[4]) {
    static const UCHAR ours[4] = {10, 0, 2, 15};
    memset(f, 0xFF, 6); /* broadcast */
    memcpy(f + 6, mac, 6);
    f[12] = 0x08, f[13] = 0x06;                       /* ARP */
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0x00; /* Ethernet, IPv4 */
    f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;       /* sizes, request */
    memcpy(f + 22, mac, 6);
    memcpy(f + 28, ours, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, target, 4);
}

VOID NdisSendStartupCheck(PNDIS_MINIPORT_BLOCK mp) {
    static const UCHAR self[4] = {10, 0, 2, 15}, gateway[4] = {10, 0, 2, 2};
    NdisSelfOpen.MiniportHandle = mp;
    NdisSelfOpen.Handlers.SendNetBufferListsComplete = NdisSelfSendComplete;
    PNET_BUFFER_LIST chain = NULL, *tail = &chain;
    for (int i = 0; i < 2; i++) {
        UCHAR *buf = NdisCheckFrames[i];
        memset(buf, 0xEE, NDIS_CHECK_HEADROOM); /* not frame data */
        NdisBuildArp(buf + NDIS_CHECK_HEADROOM, mp->CurrentAddress, i == 0 ? self : gateway);
        /* The Ethernet header (after the headroom) in one MDL, the ARP
           payload in another. */
        PMDL head = NdisAllocateMdl(NULL, buf, NDIS_CHECK_HEADROOM + 14);
        head->Next = NdisAllocateMdl(NULL, buf + NDIS_CHECK_HEADROOM + 14, 28);
        PNET_BUFFER_LIST nbl = NdisAllocateNetBufferAndNetBufferList(NULL, 0, 0, head, NDIS_CHECK_HEADROOM, 42);
        *tail = nbl;
        tail = &nbl->Next;
    }
    NdisSendNetBufferLists(&NdisSelfOpen, chain, NDIS_DEFAULT_PORT_NUMBER, 0);
}
