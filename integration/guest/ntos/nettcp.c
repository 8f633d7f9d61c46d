/*
 * mini-NT's TCP (issue 17): a client for one connection at a time, enough
 * to talk to a listener QEMU slirp forwards to the host. Active open
 * (SYN with an MSS option), data one segment at a time, each awaited and
 * retransmitted every second until acknowledged, a receive buffer the
 * peer's data is acknowledged into at once, and an active or passive
 * close. No TIME_WAIT: once both FINs are acknowledged the connection is
 * gone, and the next one takes another local port. Segments for no
 * connection are dropped, not answered with RST.
 *
 * Who sends what (net.h): SYN, data, FIN and their retransmissions go out
 * in the calling program's thread; ACKs of what arrives (the SYN-ACK, the
 * peer's data and FIN) from the receive handler, in the System receive
 * thread.
 */
#include "net.h"

typedef enum _NET_TCP_STATE {
    TcpClosed,
    TcpSynSent,
    TcpEstablished,
    TcpFinWait1,
    TcpFinWait2,
    TcpCloseWait,
    TcpLastAck,
} NET_TCP_STATE;

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define NET_TCP_WINDOW 8192
#define NET_TCP_RETRIES 5
#define NET_TCP_RTO_MS 1000

#define SEQ_LT(a, b) ((LONG)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((LONG)((a) - (b)) <= 0)

static struct {
    NET_TCP_STATE State;
    ULONG RemoteIp;
    USHORT RemotePort, LocalPort;
    UCHAR RemoteMac[6];
    ULONG Iss, SndUna, SndNxt, RcvNxt;
    BOOLEAN Refused, Reset, PeerFin, FinSent;
    ULONG RxLength;
    UCHAR Rx[NET_TCP_WINDOW];
} NetTcb;

static USHORT NetTcpNextPort;

static NTSTATUS NetTcpOutput(UCHAR flags, ULONG seq, const UCHAR *data, ULONG length, BOOLEAN canWait) {
    NET_FRAME f = {.Shape = NetShapeBackfill, .Payload = data, .PayloadLength = length};
    ULONG options = (flags & TCP_SYN) ? 4 : 0;
    ULONG tcpLength = NET_TCP_HEADER + options + length;
    ULONG h = NetBuildIpHeaders(f.Headers, NetTcb.RemoteMac, NetTcb.RemoteIp, IPPROTO_TCP, tcpLength, TRUE);
    UCHAR *t = f.Headers + h;
    NetPut16(t, NetTcb.LocalPort);
    NetPut16(t + 2, NetTcb.RemotePort);
    NetPut32(t + 4, seq);
    NetPut32(t + 8, (flags & TCP_ACK) ? NetTcb.RcvNxt : 0);
    t[12] = (UCHAR)(((NET_TCP_HEADER + options) / 4) << 4);
    t[13] = flags;
    NetPut16(t + 14, NET_TCP_WINDOW - NetTcb.RxLength);
    NetPut16(t + 16, 0);
    NetPut16(t + 18, 0);
    if (options) { /* MSS */
        t[20] = 2;
        t[21] = 4;
        NetPut16(t + 22, FROST_NET_MSS);
    }
    ULONG sum = NetPseudoHeaderSum(NetInfo.Address, NetTcb.RemoteIp, IPPROTO_TCP, tcpLength);
    sum = NetChecksumAdd(sum, t, NET_TCP_HEADER + options);
    NetPut16(t + 16, NetChecksumFinish(NetChecksumAdd(sum, data, length)));
    f.HeaderLength = h + NET_TCP_HEADER + options;
    return NetSendFrames(&f, 1, canWait);
}

static void NetTcpAck(void) { NetTcpOutput(TCP_ACK, NetTcb.SndNxt, NULL, 0, FALSE); }

/* In the receive thread. */
void NetTcpInput(ULONG src, const UCHAR srcMac[6], const UCHAR *seg, ULONG n) {
    (void)srcMac;
    if (n < NET_TCP_HEADER) return;
    ULONG off = (ULONG)(seg[12] >> 4) * 4;
    if (off < NET_TCP_HEADER || off > n) return;
    ULONG sum = NetPseudoHeaderSum(src, NetInfo.Address, IPPROTO_TCP, n);
    if (NetChecksumFinish(NetChecksumAdd(sum, seg, n)) != 0) return;
    if (NetTcb.State == TcpClosed || src != NetTcb.RemoteIp || NetGet16(seg) != NetTcb.RemotePort ||
        NetGet16(seg + 2) != NetTcb.LocalPort)
        return;
    UCHAR flags = seg[13];
    ULONG seq = NetGet32(seg + 4), ack = NetGet32(seg + 8);
    const UCHAR *data = seg + off;
    ULONG length = n - off;

    if (flags & TCP_RST) {
        if (NetTcb.State == TcpSynSent) {
            if ((flags & TCP_ACK) && ack == NetTcb.SndNxt) {
                NetTcb.Refused = TRUE;
                NetTcb.State = TcpClosed;
            }
        } else if (SEQ_LEQ(NetTcb.RcvNxt, seq) && SEQ_LT(seq, NetTcb.RcvNxt + NET_TCP_WINDOW)) {
            NetTcb.Reset = TRUE;
            NetTcb.State = TcpClosed;
        }
        return;
    }
    if (NetTcb.State == TcpSynSent) {
        if ((flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) && ack == NetTcb.SndNxt) {
            NetTcb.RcvNxt = seq + 1;
            NetTcb.SndUna = ack;
            NetTcb.State = TcpEstablished;
            NetTcpAck();
        }
        return;
    }
    if (flags & TCP_SYN) { /* the SYN-ACK again: our ACK was lost */
        NetTcpAck();
        return;
    }
    if ((flags & TCP_ACK) && SEQ_LT(NetTcb.SndUna, ack) && SEQ_LEQ(ack, NetTcb.SndNxt)) {
        NetTcb.SndUna = ack;
        if (NetTcb.FinSent && ack == NetTcb.SndNxt) {
            if (NetTcb.State == TcpFinWait1) NetTcb.State = TcpFinWait2;
            else if (NetTcb.State == TcpLastAck) NetTcb.State = TcpClosed;
        }
    }
    BOOLEAN ackNeeded = FALSE;
    if (length) {
        ackNeeded = TRUE;
        if (seq == NetTcb.RcvNxt && !NetTcb.PeerFin) {
            ULONG room = sizeof(NetTcb.Rx) - NetTcb.RxLength;
            ULONG take = length < room ? length : room;
            memcpy(NetTcb.Rx + NetTcb.RxLength, data, take);
            NetTcb.RxLength += take;
            NetTcb.RcvNxt += take;
            if (take < length) flags &= (UCHAR)~TCP_FIN; /* its FIN comes again after the rest */
        } else {
            flags &= (UCHAR)~TCP_FIN; /* out of order: ask again */
        }
    }
    if ((flags & TCP_FIN) && seq + length == NetTcb.RcvNxt && !NetTcb.PeerFin) {
        NetTcb.RcvNxt++;
        NetTcb.PeerFin = TRUE;
        ackNeeded = TRUE;
        if (NetTcb.State == TcpEstablished) NetTcb.State = TcpCloseWait;
        else if (NetTcb.State == TcpFinWait2) NetTcb.State = TcpClosed;
        else if (NetTcb.State == TcpFinWait1) NetTcb.State = TcpLastAck; /* simultaneous close: our FIN's ACK is due */
    } else if ((flags & TCP_FIN) && NetTcb.PeerFin) {
        ackNeeded = TRUE; /* the FIN again: our ACK was lost */
    }
    if (ackNeeded) NetTcpAck();
}

NTSTATUS NetTcpConnect(ULONG ip, USHORT port, ULONG timeoutMs) {
    if (NetTcb.State != TcpClosed) return (NTSTATUS)FROST_STATUS_INVALID_DEVICE_STATE;
    UCHAR mac[6];
    NTSTATUS st = NetResolve(ip, mac);
    if (!NT_SUCCESS(st)) return st;
    memset(&NetTcb, 0, sizeof(NetTcb));
    memcpy(NetTcb.RemoteMac, mac, 6);
    NetTcb.RemoteIp = ip;
    NetTcb.RemotePort = port;
    NetTcb.LocalPort = (USHORT)(49152 + NetTcpNextPort++ % 16384);
    NetTcb.Iss = (ULONG)RtlRandom();
    NetTcb.SndUna = NetTcb.Iss;
    NetTcb.SndNxt = NetTcb.Iss + 1;
    NetTcb.State = TcpSynSent;
    ULONG64 deadline = NetDeadline(timeoutMs);
    for (ULONG tries = 0; tries < NET_TCP_RETRIES; tries++) {
        st = NetTcpOutput(TCP_SYN, NetTcb.Iss, NULL, 0, TRUE);
        if (!NT_SUCCESS(st)) break;
        ULONG64 retry = NetDeadline(NET_TCP_RTO_MS);
        while (NetTcb.State == TcpSynSent && KeTickCount < retry && NetWaitTick(deadline)) {
        }
        if (NetTcb.State == TcpEstablished) return STATUS_SUCCESS;
        if (NetTcb.Refused) return (NTSTATUS)FROST_STATUS_CONNECTION_REFUSED;
        if (KeTickCount >= deadline) break;
    }
    NetTcb.State = TcpClosed;
    return NT_SUCCESS(st) ? (NTSTATUS)FROST_STATUS_IO_TIMEOUT : st;
}

static NTSTATUS NetTcpStatus(void) {
    if (NetTcb.Reset) return (NTSTATUS)FROST_STATUS_CONNECTION_RESET;
    return (NTSTATUS)FROST_STATUS_INVALID_DEVICE_STATE;
}

/* Sends one segment (seq.. seq+length, plus the FIN's sequence number when
   flags has it) and waits until the peer acknowledges all of it. */
static NTSTATUS NetTcpSendAwaited(UCHAR flags, const UCHAR *data, ULONG length) {
    ULONG seq = NetTcb.SndNxt;
    ULONG end = seq + length + ((flags & TCP_FIN) ? 1 : 0);
    NetTcb.SndNxt = end;
    if (flags & TCP_FIN) NetTcb.FinSent = TRUE;
    for (ULONG tries = 0; tries < NET_TCP_RETRIES; tries++) {
        if (NetTcb.State == TcpClosed && NetTcb.Reset) break;
        NTSTATUS st = NetTcpOutput(flags, seq, data, length, TRUE);
        if (!NT_SUCCESS(st)) return st;
        ULONG64 retry = NetDeadline(NET_TCP_RTO_MS);
        while (SEQ_LT(NetTcb.SndUna, end) && !NetTcb.Reset && NetWaitTick(retry)) {
        }
        if (!SEQ_LT(NetTcb.SndUna, end)) return STATUS_SUCCESS;
    }
    if (NetTcb.Reset) return (NTSTATUS)FROST_STATUS_CONNECTION_RESET;
    return (NTSTATUS)FROST_STATUS_IO_TIMEOUT;
}

NTSTATUS NetTcpSend(const UCHAR *data, ULONG length, ULONG *sent) {
    *sent = 0;
    while (*sent < length) {
        if (NetTcb.State != TcpEstablished && NetTcb.State != TcpCloseWait) return NetTcpStatus();
        ULONG n = length - *sent < FROST_NET_MSS ? length - *sent : FROST_NET_MSS;
        NTSTATUS st = NetTcpSendAwaited(TCP_PSH | TCP_ACK, data + *sent, n);
        if (!NT_SUCCESS(st)) return st;
        *sent += n;
    }
    return STATUS_SUCCESS;
}

NTSTATUS NetTcpReceive(UCHAR *buf, ULONG cap, ULONG *received, ULONG timeoutMs) {
    *received = 0;
    ULONG64 deadline = NetDeadline(timeoutMs);
    for (;;) {
        if (NetTcb.RxLength) {
            ULONG n = NetTcb.RxLength < cap ? NetTcb.RxLength : cap;
            memcpy(buf, NetTcb.Rx, n);
            for (ULONG i = n; i < NetTcb.RxLength; i++) NetTcb.Rx[i - n] = NetTcb.Rx[i];
            NetTcb.RxLength -= n;
            *received = n;
            return STATUS_SUCCESS;
        }
        if (NetTcb.PeerFin) return (NTSTATUS)FROST_STATUS_END_OF_FILE;
        if (NetTcb.Reset) return (NTSTATUS)FROST_STATUS_CONNECTION_RESET;
        if (NetTcb.State == TcpClosed) return (NTSTATUS)FROST_STATUS_INVALID_DEVICE_STATE;
        if (!NetWaitTick(deadline)) return (NTSTATUS)FROST_STATUS_IO_TIMEOUT;
    }
}

/* Sends our FIN (once the peer has acknowledged it, the connection is
   closed from our side) and waits up to timeoutMs for the peer's. */
NTSTATUS NetTcpClose(ULONG timeoutMs) {
    NTSTATUS st = STATUS_SUCCESS;
    if (NetTcb.State == TcpEstablished || NetTcb.State == TcpCloseWait) {
        NetTcb.State = NetTcb.State == TcpEstablished ? TcpFinWait1 : TcpLastAck;
        st = NetTcpSendAwaited(TCP_FIN | TCP_ACK, NULL, 0);
        ULONG64 deadline = NetDeadline(timeoutMs);
        while (NT_SUCCESS(st) && !NetTcb.PeerFin && !NetTcb.Reset && NetWaitTick(deadline)) {
        }
        if (NT_SUCCESS(st) && !NetTcb.PeerFin) st = NetTcb.Reset ? (NTSTATUS)FROST_STATUS_CONNECTION_RESET
                                                               : (NTSTATUS)FROST_STATUS_IO_TIMEOUT;
    } else if (NetTcb.State == TcpSynSent || NetTcb.State == TcpClosed) {
        st = NetTcb.Reset ? (NTSTATUS)FROST_STATUS_CONNECTION_RESET : STATUS_SUCCESS;
    }
    NetTcb.State = TcpClosed;
    NetTcb.RxLength = 0;
    return st;
}
