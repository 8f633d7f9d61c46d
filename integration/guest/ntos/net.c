/*
 * mini-NT's protocol stack, link and network layers (issue 17): the
 * binding to the adapter, sending frames as NET_BUFFER_LISTs, the receive
 * handler, Ethernet, ARP (a cache, requests, replies), IPv4 and ICMP echo,
 * and UDP (datagrams sent in chains, received into a small queue). The
 * address is static, QEMU slirp's defaults: 10.0.2.15/24, gateway
 * 10.0.2.2, DNS 10.0.2.3.
 *
 * Frame shapes. Frames are built deliberately in the shapes a Windows
 * stack hands NDIS, so a reader of NET_BUFFERs must handle each:
 *   - contiguous: one MDL, DataOffset 0. ARP requests and replies, ICMP
 *     echo requests and replies.
 *   - backfill: the headers at the end of a NET_BACKFILL-byte MDL
 *     (DataOffset = NET_BACKFILL - header length, as Windows reserves
 *     backfill for lower layers), the payload in a second MDL. UDP
 *     datagrams and TCP data segments; TCP segments without data are the
 *     header MDL alone.
 *   - split: a first MDL of backfill only (DataOffset skips it whole, so
 *     CurrentMdl is the second MDL, not MdlChain), then an MDL of 8 bytes
 *     of backfill and the Ethernet header, one of the IPv4 and UDP
 *     headers, and the payload. DNS queries.
 * Datagrams of one NtFrostNetSendDatagrams call go down as a chain of NBLs
 * in one NdisSendNetBufferLists call.
 *
 * Each slot's buffers and MDLs are allocated once, at binding, and reused:
 * pool is never freed in mini-NT. An MDL always describes the same bytes;
 * only its ByteCount shrinks to the frame's (NdisAdjustMdlLength's way).
 *
 * The serial report gets a net-frame line for each frame the stack sends
 * (before the send) and receives: the protocol's side of the miniport's
 * net-tx and net-rx lines, with the same length and FNV-1a hash
 * (NdisFrameHash), and the process and thread it was handled in, the NBL
 * and its place in the chain.
 */
#include "net.h"

FROST_NET_INFORMATION NetInfo;
BOOLEAN NetBound;

static NDIS_HANDLE NetBindingHandle;
static NDIS_HANDLE NetPool;
static const UCHAR NetBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

#define NET_TX_SLOTS 40
#define NET_BACKFILL 128 /* the header MDL: backfill, then the headers at its end */
#define NET_SPLIT_SKIP 32 /* the split shape's backfill-only MDL */
#define NET_SPLIT_ETH (NET_SPLIT_SKIP + 16)
#define NET_SPLIT_ETH_BACKFILL 8
#define NET_SPLIT_IP (NET_SPLIT_ETH + 32)
#define NET_HEADER_BUFFER 256
#define NET_TAG 'tseN'

typedef struct _NET_TX_SLOT {
    PNET_BUFFER_LIST Nbl;
    UCHAR *Header;  /* NET_HEADER_BUFFER bytes */
    UCHAR *Payload; /* NDIS_MAX_FRAME_SIZE bytes */
    PMDL HeaderMdl; /* Header[0, NET_BACKFILL) */
    PMDL SkipMdl;   /* split shape: Header[0, NET_SPLIT_SKIP), backfill only */
    PMDL EthMdl;    /* split shape: Header[NET_SPLIT_ETH, +8+14), backfill and Ethernet */
    PMDL IpMdl;     /* split shape: Header[NET_SPLIT_IP, +28), IPv4 and UDP */
    PMDL PayloadMdl;
    BOOLEAN Busy;
} NET_TX_SLOT;

static NET_TX_SLOT NetSlots[NET_TX_SLOTS];

/* ---- checksums and headers ----------------------------------------------- */

ULONG NetChecksumAdd(ULONG sum, const UCHAR *p, ULONG n) {
    for (; n > 1; p += 2, n -= 2) sum += ((ULONG)p[0] << 8) | p[1];
    if (n) sum += (ULONG)p[0] << 8;
    return sum;
}

USHORT NetChecksumFinish(ULONG sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (USHORT)~sum;
}

ULONG NetPseudoHeaderSum(ULONG src, ULONG dst, UCHAR protocol, ULONG length) {
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + protocol + length;
}

static USHORT NetIpIdentification = 0x4600;

ULONG NetBuildIpHeaders(UCHAR *p, const UCHAR dstMac[6], ULONG dstIp, UCHAR protocol, ULONG l4Length,
                        BOOLEAN dontFragment) {
    memcpy(p, dstMac, 6);
    memcpy(p + 6, NetInfo.MacAddress, 6);
    NetPut16(p + 12, ETHERTYPE_IPV4);
    UCHAR *ip = p + NET_ETH_HEADER;
    ip[0] = 0x45; /* version 4, 5 words */
    ip[1] = 0;
    NetPut16(ip + 2, NET_IP_HEADER + l4Length);
    NetPut16(ip + 4, NetIpIdentification++);
    NetPut16(ip + 6, dontFragment ? 0x4000 : 0);
    ip[8] = 128; /* Windows' default TTL */
    ip[9] = protocol;
    NetPut16(ip + 10, 0);
    NetPut32(ip + 12, NetInfo.Address);
    NetPut32(ip + 16, dstIp);
    NetPut16(ip + 10, NetChecksumFinish(NetChecksumAdd(0, ip, NET_IP_HEADER)));
    return NET_ETH_HEADER + NET_IP_HEADER;
}

/* ---- time ------------------------------------------------------------------ */

ULONG64 NetDeadline(ULONG timeoutMs) { return KeTickCount + (timeoutMs * (ULONG64)CLOCK_HZ + 999) / 1000; }

BOOLEAN NetWaitTick(ULONG64 deadline) {
    if (KeTickCount >= deadline) return FALSE;
    KeDelayExecutionThread(1);
    return TRUE;
}

/* ---- the frame log ------------------------------------------------------------ */

static UCHAR NetLogBuffer[NDIS_MAX_FRAME_SIZE];

/* One net-frame line per NB of the chain. The bytes are read back through
   the NB (NdisCopyFromNetBuffer), so the log says what the NB holds. */
static void NetLogChain(const char *dir, PNET_BUFFER_LIST nbls) {
    if (!NetInfo.FrameLog) return;
    ULONG count = 0;
    for (PNET_BUFFER_LIST l = nbls; l; l = l->Next) count++;
    EPROCESS *p = PsGetCurrentProcess();
    ETHREAD *t = CONTAINING_RECORD(KeGetCurrentThread(), ETHREAD, Tcb);
    ULONG index = 0;
    for (PNET_BUFFER_LIST l = nbls; l; l = l->Next, index++) {
        for (PNET_BUFFER nb = l->FirstNetBuffer; nb; nb = nb->Next) {
            ULONG n = NdisCopyFromNetBuffer(nb, NetLogBuffer, sizeof(NetLogBuffer));
            ULONG mdls = 0;
            for (PMDL m = nb->MdlChain; m; m = m->Next) mdls++;
            DbgPrint("frost-guest: net-frame dir=%s len=%u hash=0x%08x pid=%llu tid=%llu process=%s nbl=0x%llx "
                     "nb=0x%llx chain-mdls=%u data-offset=%u nbls=%u nbl-index=%u\n",
                     dir, n, NdisFrameHash(NetLogBuffer, n), (ULONG64)p->UniqueProcessId,
                     (ULONG64)t->Cid.UniqueThread, (const char *)p->ImageFileName, (ULONG64)l, (ULONG64)nb, mdls,
                     nb->DataOffset, count, index);
        }
    }
}

/* ---- sending ------------------------------------------------------------------- */

static void NetSetMdlLength(PMDL m, ULONG length, PMDL next) {
    m->ByteCount = length;
    m->Next = next;
}

static void NetShape(NET_TX_SLOT *s, const NET_FRAME *f) {
    PNET_BUFFER nb = s->Nbl->FirstNetBuffer;
    ULONG total = f->HeaderLength + f->PayloadLength;
    switch (f->Shape) {
    case NetShapeContiguous:
        memcpy(s->Payload, f->Headers, f->HeaderLength);
        memcpy(s->Payload + f->HeaderLength, f->Payload, f->PayloadLength);
        NetSetMdlLength(s->PayloadMdl, total, NULL);
        NdisSetNetBufferData(nb, s->PayloadMdl, 0, total);
        break;
    case NetShapeBackfill: {
        ULONG offset = NET_BACKFILL - f->HeaderLength;
        memcpy(s->Header + offset, f->Headers, f->HeaderLength);
        PMDL next = NULL;
        if (f->PayloadLength) {
            memcpy(s->Payload, f->Payload, f->PayloadLength);
            NetSetMdlLength(s->PayloadMdl, f->PayloadLength, NULL);
            next = s->PayloadMdl;
        }
        NetSetMdlLength(s->HeaderMdl, NET_BACKFILL, next);
        NdisSetNetBufferData(nb, s->HeaderMdl, offset, total);
        break;
    }
    case NetShapeSplit: {
        memcpy(s->Header + NET_SPLIT_ETH + NET_SPLIT_ETH_BACKFILL, f->Headers, NET_ETH_HEADER);
        ULONG rest = f->HeaderLength - NET_ETH_HEADER;
        memcpy(s->Header + NET_SPLIT_IP, f->Headers + NET_ETH_HEADER, rest);
        memcpy(s->Payload, f->Payload, f->PayloadLength);
        NetSetMdlLength(s->PayloadMdl, f->PayloadLength, NULL);
        NetSetMdlLength(s->IpMdl, rest, f->PayloadLength ? s->PayloadMdl : NULL);
        NetSetMdlLength(s->EthMdl, NET_SPLIT_ETH_BACKFILL + NET_ETH_HEADER, s->IpMdl);
        NetSetMdlLength(s->SkipMdl, NET_SPLIT_SKIP, s->EthMdl);
        NdisSetNetBufferData(nb, s->SkipMdl, NET_SPLIT_SKIP + NET_SPLIT_ETH_BACKFILL, total);
        break;
    }
    }
}

static NET_TX_SLOT *NetGetSlot(BOOLEAN canWait) {
    ULONG64 deadline = NetDeadline(2000);
    for (;;) {
        for (ULONG i = 0; i < NET_TX_SLOTS; i++) {
            if (!NetSlots[i].Busy) {
                NetSlots[i].Busy = TRUE;
                return &NetSlots[i];
            }
        }
        if (!canWait || !NetWaitTick(deadline)) return NULL;
    }
}

NTSTATUS NetSendFrames(NET_FRAME *frames, ULONG count, BOOLEAN canWait) {
    PNET_BUFFER_LIST head = NULL, *tail = &head;
    for (ULONG i = 0; i < count; i++) {
        NET_FRAME *f = &frames[i];
        if (f->HeaderLength + f->PayloadLength > NDIS_MAX_FRAME_SIZE || f->HeaderLength > sizeof(f->Headers) ||
            (f->Shape == NetShapeSplit && f->HeaderLength != NET_ETH_HEADER + NET_IP_HEADER + NET_UDP_HEADER))
            return STATUS_INVALID_PARAMETER;
    }
    for (ULONG i = 0; i < count; i++) {
        NET_TX_SLOT *s = NetGetSlot(canWait);
        if (!s) {
            /* Nothing of this call went down: give the slots back. */
            for (PNET_BUFFER_LIST l = head; l; l = l->Next) ((NET_TX_SLOT *)l->ProtocolReserved[0])->Busy = FALSE;
            NetInfo.SendFailures += count;
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        NetShape(s, &frames[i]);
        s->Nbl->Next = NULL;
        s->Nbl->Status = NDIS_STATUS_SUCCESS;
        *tail = s->Nbl;
        tail = &s->Nbl->Next;
    }
    NetLogChain("tx", head);
    NetInfo.FramesSent += count;
    NdisSendNetBufferLists(NetBindingHandle, head, NDIS_DEFAULT_PORT_NUMBER, 0);
    return STATUS_SUCCESS;
}

static VOID NetSendComplete(NDIS_HANDLE context, PNET_BUFFER_LIST nbls, ULONG flags) {
    (void)context, (void)flags;
    while (nbls) {
        PNET_BUFFER_LIST next = nbls->Next;
        if (nbls->Status != NDIS_STATUS_SUCCESS) {
            NetInfo.SendFailures++;
            DbgPrint("frost-guest: net-send-error nbl=0x%llx status=0x%08x\n", (ULONG64)nbls, (ULONG)nbls->Status);
        }
        nbls->Next = NULL;
        ((NET_TX_SLOT *)nbls->ProtocolReserved[0])->Busy = FALSE;
        nbls = next;
    }
}

/* ---- ARP ------------------------------------------------------------------------- */

#define NET_ARP_ENTRIES 8
typedef struct _NET_ARP_ENTRY {
    ULONG Ip;
    UCHAR Mac[6];
} NET_ARP_ENTRY;
static NET_ARP_ENTRY NetArpCache[NET_ARP_ENTRIES];
static ULONG NetArpNext;

static BOOLEAN NetArpLookup(ULONG ip, UCHAR mac[6]) {
    for (ULONG i = 0; i < NET_ARP_ENTRIES; i++) {
        if (NetArpCache[i].Ip == ip && ip) {
            memcpy(mac, NetArpCache[i].Mac, 6);
            return TRUE;
        }
    }
    return FALSE;
}

static void NetArpLearn(ULONG ip, const UCHAR mac[6], BOOLEAN add) {
    for (ULONG i = 0; i < NET_ARP_ENTRIES; i++) {
        if (NetArpCache[i].Ip == ip) {
            memcpy(NetArpCache[i].Mac, mac, 6);
            return;
        }
    }
    if (!add) return;
    NET_ARP_ENTRY *e = &NetArpCache[NetArpNext++ % NET_ARP_ENTRIES];
    e->Ip = ip;
    memcpy(e->Mac, mac, 6);
}

static NTSTATUS NetSendArp(ULONG op, const UCHAR dstMac[6], const UCHAR targetMac[6], ULONG targetIp,
                           BOOLEAN canWait) {
    NET_FRAME f = {.Shape = NetShapeContiguous};
    UCHAR *p = f.Headers;
    memcpy(p, dstMac, 6);
    memcpy(p + 6, NetInfo.MacAddress, 6);
    NetPut16(p + 12, ETHERTYPE_ARP);
    UCHAR *a = p + NET_ETH_HEADER;
    NetPut16(a, 1); /* Ethernet */
    NetPut16(a + 2, ETHERTYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    NetPut16(a + 6, op);
    memcpy(a + 8, NetInfo.MacAddress, 6);
    NetPut32(a + 14, NetInfo.Address);
    memcpy(a + 18, targetMac, 6);
    NetPut32(a + 24, targetIp);
    f.HeaderLength = NET_ETH_HEADER + 28;
    return NetSendFrames(&f, 1, canWait);
}

NTSTATUS NetResolve(ULONG ip, UCHAR mac[6]) {
    ULONG hop = (ip & NetInfo.Mask) == (NetInfo.Address & NetInfo.Mask) ? ip : NetInfo.Gateway;
    if (ip == 0xffffffff) {
        memcpy(mac, NetBroadcast, 6);
        return STATUS_SUCCESS;
    }
    static const UCHAR zero[6];
    for (ULONG attempt = 0; attempt < 3; attempt++) {
        if (NetArpLookup(hop, mac)) return STATUS_SUCCESS;
        NTSTATUS st = NetSendArp(1, NetBroadcast, zero, hop, TRUE);
        if (!NT_SUCCESS(st)) return st;
        ULONG64 deadline = NetDeadline(1000);
        while (NetWaitTick(deadline))
            if (NetArpLookup(hop, mac)) return STATUS_SUCCESS;
    }
    return (NTSTATUS)FROST_STATUS_HOST_UNREACHABLE;
}

static void NetArpInput(const UCHAR *f, ULONG n) {
    if (n < NET_ETH_HEADER + 28) return;
    const UCHAR *a = f + NET_ETH_HEADER;
    if (NetGet16(a) != 1 || NetGet16(a + 2) != ETHERTYPE_IPV4 || a[4] != 6 || a[5] != 4) return;
    ULONG op = NetGet16(a + 6), senderIp = NetGet32(a + 14), targetIp = NetGet32(a + 24);
    BOOLEAN forUs = targetIp == NetInfo.Address;
    NetArpLearn(senderIp, a + 8, forUs);
    if (op == 1 && forUs) NetSendArp(2, a + 8, a + 8, senderIp, FALSE);
}

/* ---- ICMP echo --------------------------------------------------------------------- */

typedef struct _NET_PENDING_PING {
    BOOLEAN Waiting, Answered;
    ULONG Address;
    USHORT Identifier, Sequence;
    ULONG Length, Ttl;
    ULONG64 AnsweredAt;
} NET_PENDING_PING;
static NET_PENDING_PING NetPendingPing;

static NTSTATUS NetSendEcho(UCHAR type, const UCHAR mac[6], ULONG dst, ULONG idSeq, const UCHAR *data, ULONG len,
                            BOOLEAN canWait) {
    NET_FRAME f = {.Shape = NetShapeContiguous, .Payload = data, .PayloadLength = len};
    ULONG h = NetBuildIpHeaders(f.Headers, mac, dst, IPPROTO_ICMP, 8 + len, FALSE);
    UCHAR *icmp = f.Headers + h;
    icmp[0] = type;
    icmp[1] = 0;
    NetPut16(icmp + 2, 0);
    NetPut32(icmp + 4, idSeq);
    NetPut16(icmp + 2, NetChecksumFinish(NetChecksumAdd(NetChecksumAdd(0, icmp, 8), data, len)));
    f.HeaderLength = h + 8;
    return NetSendFrames(&f, 1, canWait);
}

NTSTATUS NetPing(FROST_NET_PING *ping) {
    if (ping->DataLength > FROST_NET_MAX_PING_DATA) return STATUS_INVALID_PARAMETER;
    UCHAR mac[6];
    NTSTATUS st = NetResolve(ping->Address, mac);
    if (!NT_SUCCESS(st)) return st;
    NET_PENDING_PING *pp = &NetPendingPing;
    memset(pp, 0, sizeof(*pp));
    pp->Address = ping->Address;
    pp->Identifier = ping->Identifier;
    pp->Sequence = ping->Sequence;
    pp->Waiting = TRUE;
    ULONG64 sent = KeTickCount;
    st = NetSendEcho(8, mac, ping->Address, ((ULONG)ping->Identifier << 16) | ping->Sequence, ping->Data,
                     ping->DataLength, TRUE);
    if (!NT_SUCCESS(st)) {
        pp->Waiting = FALSE;
        return st;
    }
    ULONG64 deadline = NetDeadline(ping->TimeoutMs);
    while (!pp->Answered && NetWaitTick(deadline)) {
    }
    pp->Waiting = FALSE;
    if (!pp->Answered) return (NTSTATUS)FROST_STATUS_IO_TIMEOUT;
    ping->RoundTripMs = (ULONG)((pp->AnsweredAt - sent) * 1000 / CLOCK_HZ);
    ping->ReplyLength = pp->Length;
    ping->ReplyTtl = pp->Ttl;
    return STATUS_SUCCESS;
}

static void NetIcmpInput(const UCHAR *f, ULONG src, const UCHAR *icmp, ULONG n, ULONG ttl) {
    if (n < 8 || NetChecksumFinish(NetChecksumAdd(0, icmp, n)) != 0) return;
    ULONG idSeq = NetGet32(icmp + 4);
    if (icmp[0] == 8) { /* echo request: answer to the frame's sender */
        NetSendEcho(0, f + 6, src, idSeq, icmp + 8, n - 8, FALSE);
    } else if (icmp[0] == 0) {
        NET_PENDING_PING *pp = &NetPendingPing;
        if (pp->Waiting && !pp->Answered && src == pp->Address &&
            idSeq == (((ULONG)pp->Identifier << 16) | pp->Sequence)) {
            pp->Answered = TRUE;
            pp->AnsweredAt = KeTickCount;
            pp->Length = n - 8;
            pp->Ttl = ttl;
        }
    }
}

/* ---- UDP --------------------------------------------------------------------------------- */

#define NET_UDP_QUEUE 16
typedef struct _NET_UDP_ENTRY {
    ULONG64 Order; /* 0: free */
    ULONG From;
    USHORT FromPort, ToPort;
    ULONG Length;
    UCHAR Data[FROST_NET_MAX_UDP];
} NET_UDP_ENTRY;
static NET_UDP_ENTRY NetUdpQueue[NET_UDP_QUEUE];
static ULONG64 NetUdpOrder;

NTSTATUS NetSendDatagrams(const FROST_NET_DATAGRAM *d, const UCHAR *const *data, ULONG count, ULONG *sent) {
    static NET_FRAME frames[FROST_NET_MAX_BATCH];
    *sent = 0;
    if (count == 0 || count > FROST_NET_MAX_BATCH) return STATUS_INVALID_PARAMETER;
    for (ULONG i = 0; i < count; i++) {
        if (d[i].Length > FROST_NET_MAX_UDP || !d[i].RemotePort || !d[i].LocalPort) return STATUS_INVALID_PARAMETER;
        NET_FRAME *f = &frames[i];
        UCHAR mac[6];
        NTSTATUS st = NetResolve(d[i].RemoteAddress, mac);
        if (!NT_SUCCESS(st)) return st;
        ULONG udpLength = NET_UDP_HEADER + d[i].Length;
        ULONG h = NetBuildIpHeaders(f->Headers, mac, d[i].RemoteAddress, IPPROTO_UDP, udpLength, FALSE);
        UCHAR *udp = f->Headers + h;
        NetPut16(udp, d[i].LocalPort);
        NetPut16(udp + 2, d[i].RemotePort);
        NetPut16(udp + 4, udpLength);
        NetPut16(udp + 6, 0);
        ULONG sum = NetPseudoHeaderSum(NetInfo.Address, d[i].RemoteAddress, IPPROTO_UDP, udpLength);
        USHORT c = NetChecksumFinish(NetChecksumAdd(NetChecksumAdd(sum, udp, NET_UDP_HEADER), data[i], d[i].Length));
        NetPut16(udp + 6, c ? c : 0xffff);
        f->HeaderLength = h + NET_UDP_HEADER;
        f->Payload = data[i];
        f->PayloadLength = d[i].Length;
        /* DNS queries take the split shape, every other datagram the
           backfill one. */
        f->Shape = d[i].RemotePort == 53 ? NetShapeSplit : NetShapeBackfill;
    }
    NTSTATUS st = NetSendFrames(frames, count, TRUE);
    if (NT_SUCCESS(st)) *sent = count;
    return st;
}

static void NetUdpInput(ULONG src, ULONG dst, const UCHAR *udp, ULONG n) {
    if (n < NET_UDP_HEADER || NetGet16(udp + 4) != n) return;
    if (NetGet16(udp + 6)) { /* 0: the sender did not checksum */
        ULONG sum = NetPseudoHeaderSum(src, dst, IPPROTO_UDP, n);
        if (NetChecksumFinish(NetChecksumAdd(sum, udp, n)) != 0) return;
    }
    NET_UDP_ENTRY *e = NULL;
    for (ULONG i = 0; i < NET_UDP_QUEUE; i++) /* a free entry, or else the oldest */
        if (!e || NetUdpQueue[i].Order < e->Order) e = &NetUdpQueue[i];
    e->Order = ++NetUdpOrder;
    e->From = src;
    e->FromPort = (USHORT)NetGet16(udp);
    e->ToPort = (USHORT)NetGet16(udp + 2);
    e->Length = n - NET_UDP_HEADER;
    memcpy(e->Data, udp + NET_UDP_HEADER, e->Length);
}

NTSTATUS NetReceiveDatagram(USHORT localPort, UCHAR *buf, ULONG cap, ULONG *length, ULONG *from, USHORT *fromPort,
                            ULONG timeoutMs) {
    ULONG64 deadline = NetDeadline(timeoutMs);
    do {
        NET_UDP_ENTRY *e = NULL;
        for (ULONG i = 0; i < NET_UDP_QUEUE; i++)
            if (NetUdpQueue[i].Order && NetUdpQueue[i].ToPort == localPort && (!e || NetUdpQueue[i].Order < e->Order))
                e = &NetUdpQueue[i];
        if (e) {
            ULONG n = e->Length < cap ? e->Length : cap;
            memcpy(buf, e->Data, n);
            *length = n;
            *from = e->From;
            *fromPort = e->FromPort;
            e->Order = 0;
            return n < e->Length ? STATUS_BUFFER_TOO_SMALL : STATUS_SUCCESS;
        }
    } while (NetWaitTick(deadline));
    return (NTSTATUS)FROST_STATUS_IO_TIMEOUT;
}

/* ---- receiving --------------------------------------------------------------------------- */

static UCHAR NetRxFrame[NDIS_MAX_FRAME_SIZE];

static void NetIpInput(const UCHAR *f, ULONG n) {
    if (n < NET_ETH_HEADER + NET_IP_HEADER) return;
    const UCHAR *ip = f + NET_ETH_HEADER;
    ULONG ihl = (ULONG)(ip[0] & 0xf) * 4, total = NetGet16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < NET_IP_HEADER || total < ihl || NET_ETH_HEADER + total > n) return;
    if (NetChecksumFinish(NetChecksumAdd(0, ip, ihl)) != 0) return;
    if (NetGet16(ip + 6) & 0x3fff) return; /* a fragment: not reassembled */
    ULONG src = NetGet32(ip + 12), dst = NetGet32(ip + 16);
    if (dst != NetInfo.Address) return;
    NetArpLearn(src, f + 6, FALSE);
    const UCHAR *l4 = ip + ihl;
    ULONG l4n = total - ihl;
    switch (ip[9]) {
    case IPPROTO_ICMP: NetIcmpInput(f, src, l4, l4n, ip[8]); break;
    case IPPROTO_UDP: NetUdpInput(src, dst, l4, l4n); break;
    case IPPROTO_TCP: NetTcpInput(src, f + 6, l4, l4n); break;
    }
}

/* In NDIS's receive thread (System). The NBLs are the miniport's until we
   return: each frame is copied out first. */
static VOID NetReceive(NDIS_HANDLE context, PNET_BUFFER_LIST nbls, NDIS_PORT_NUMBER port, ULONG count, ULONG flags) {
    (void)context, (void)port, (void)count, (void)flags;
    NetLogChain("rx", nbls);
    for (PNET_BUFFER_LIST l = nbls; l; l = l->Next) {
        for (PNET_BUFFER nb = l->FirstNetBuffer; nb; nb = nb->Next) {
            ULONG n = NdisCopyFromNetBuffer(nb, NetRxFrame, sizeof(NetRxFrame));
            NetInfo.FramesReceived++;
            if (n < NET_ETH_HEADER) continue;
            if (RtlCompareMemory(NetRxFrame, NetInfo.MacAddress, 6) != 0 &&
                RtlCompareMemory(NetRxFrame, NetBroadcast, 6) != 0)
                continue;
            switch (NetGet16(NetRxFrame + 12)) {
            case ETHERTYPE_ARP: NetArpInput(NetRxFrame, n); break;
            case ETHERTYPE_IPV4: NetIpInput(NetRxFrame, n); break;
            }
        }
    }
}

/* ---- binding ------------------------------------------------------------------------------- */

static const NET_PROTOCOL_HANDLERS NetHandlers = {NetReceive, NetSendComplete};

static PMDL NetMdl(PVOID va, ULONG length) {
    PMDL m = NdisAllocateMdl(NetPool, va, length);
    if (!m) KeBugCheckEx(NO_PAGES_AVAILABLE, 0x17, (ULONG64)va, length, 0);
    return m;
}

/* Binds the stack to the adapter, once; later calls only say whether it
   is bound. Without a NIC every call fails with STATUS_NO_SUCH_DEVICE. */
NTSTATUS NetBind(void) {
    if (NetBound) return STATUS_SUCCESS;
    NDIS_STATUS st = NdisOpenAdapterSimple(&NetHandlers, &NetInfo, &NetBindingHandle, NetInfo.MacAddress);
    if (st == NDIS_STATUS_ADAPTER_NOT_FOUND) return (NTSTATUS)FROST_STATUS_NO_SUCH_DEVICE;
    if (st != NDIS_STATUS_SUCCESS) return st;
    NetReadOptions();
    NetInfo.Address = FROST_NET_GUEST;
    NetInfo.Mask = 0xffffff00;
    NetInfo.Gateway = FROST_NET_GATEWAY;
    NetInfo.Dns = FROST_NET_DNS;
    NetPool = NdisAllocateNetBufferListPool(NULL, NULL);
    for (ULONG i = 0; i < NET_TX_SLOTS; i++) {
        NET_TX_SLOT *s = &NetSlots[i];
        s->Header = ExAllocatePoolWithTag(NonPagedPool, NET_HEADER_BUFFER, NET_TAG);
        s->Payload = ExAllocatePoolWithTag(NonPagedPool, NDIS_MAX_FRAME_SIZE, NET_TAG);
        s->HeaderMdl = NetMdl(s->Header, NET_BACKFILL);
        s->SkipMdl = NetMdl(s->Header, NET_SPLIT_SKIP);
        s->EthMdl = NetMdl(s->Header + NET_SPLIT_ETH, NET_SPLIT_ETH_BACKFILL + NET_ETH_HEADER);
        s->IpMdl = NetMdl(s->Header + NET_SPLIT_IP, NET_IP_HEADER + NET_UDP_HEADER);
        s->PayloadMdl = NetMdl(s->Payload, NDIS_MAX_FRAME_SIZE);
        s->Nbl = NdisAllocateNetBufferAndNetBufferList(NetPool, 0, 0, s->PayloadMdl, 0, 0);
        if (!s->Nbl) KeBugCheckEx(NO_PAGES_AVAILABLE, 0x17, i, 0, 0);
        s->Nbl->ProtocolReserved[0] = s;
    }
    const UCHAR *m = NetInfo.MacAddress;
    DbgPrint("frost-guest: net-interface mac=%02x:%02x:%02x:%02x:%02x:%02x address=10.0.2.15 mask=255.255.255.0 "
             "gateway=10.0.2.2 dns=10.0.2.3 config=static binding=0x%llx\n",
             (ULONG)m[0], (ULONG)m[1], (ULONG)m[2], (ULONG)m[3], (ULONG)m[4], (ULONG)m[5], (ULONG64)NetBindingHandle);
    NetBound = TRUE;
    return STATUS_SUCCESS;
}
