/*
 * mini-NT's protocol stack (issue 17): what its files offer each other.
 * net.c binds to the adapter through NDIS and does Ethernet, ARP, IPv4,
 * ICMP and UDP; nettcp.c is a TCP client for one connection; netsock.c the
 * system services a user program calls (NtFrostNet*).
 *
 * Context: every frame the stack sends in answer to a received one (ARP
 * and ICMP echo replies, TCP ACKs) is sent from the receive handler, in
 * NDIS's System receive thread; every frame a program asks for (echo
 * requests, datagrams, SYN, data, FIN, their retransmissions, and the ARP
 * request that resolves the next hop) is sent in the program's own thread,
 * inside its system service. The kernel is not preemptible, so the stack
 * needs no locks: its state only changes hands when a thread waits.
 */
#ifndef MININT_NET_H
#define MININT_NET_H

#include "ke.h"
#include "ndis.h"
#include "../include/frostnet.h"

#define NET_ETH_HEADER 14
#define NET_IP_HEADER 20
#define NET_UDP_HEADER 8
#define NET_TCP_HEADER 20
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

/* The stack's configuration: its address and netclient's options. */
extern FROST_NET_INFORMATION NetInfo;
extern BOOLEAN NetBound;

/* How a frame's bytes are laid out in its NET_BUFFER (net.c, "Frame
   shapes"). */
typedef enum _NET_SHAPE {
    NetShapeContiguous, /* one MDL, DataOffset 0 */
    NetShapeBackfill,   /* headers at the end of a backfilled MDL, payload (if any) in a second */
    NetShapeSplit,      /* backfill-only MDL, Ethernet MDL, IP+UDP MDL, payload MDL */
} NET_SHAPE;

/* One frame to send: headers (Ethernet, IPv4 and the transport's, built by
   the caller) and payload, kept apart until the shape places them. */
typedef struct _NET_FRAME {
    UCHAR Headers[NET_ETH_HEADER + NET_IP_HEADER + NET_TCP_HEADER + 4];
    ULONG HeaderLength;
    const UCHAR *Payload;
    ULONG PayloadLength;
    NET_SHAPE Shape;
} NET_FRAME;

/* net.c */
NTSTATUS NetBind(void);
/* Sends count frames in one NdisSendNetBufferLists call (a chain of NBLs).
   canWait: the caller may wait for a free send slot (not the receive
   thread). */
NTSTATUS NetSendFrames(NET_FRAME *frames, ULONG count, BOOLEAN canWait);
/* Resolves the next hop of ip to a MAC address, sending ARP requests and
   waiting for the answer (a service thread only). */
NTSTATUS NetResolve(ULONG ip, UCHAR mac[6]);
/* Writes the Ethernet and IPv4 headers of a datagram of l4Length bytes;
   returns the bytes written (34). */
ULONG NetBuildIpHeaders(UCHAR *p, const UCHAR dstMac[6], ULONG dstIp, UCHAR protocol, ULONG l4Length, BOOLEAN dontFragment);
/* The Internet checksum's running sum, and its folded complement. */
ULONG NetChecksumAdd(ULONG sum, const UCHAR *p, ULONG n);
USHORT NetChecksumFinish(ULONG sum);
ULONG NetPseudoHeaderSum(ULONG src, ULONG dst, UCHAR protocol, ULONG length);
NTSTATUS NetPing(FROST_NET_PING *ping);
NTSTATUS NetSendDatagrams(const FROST_NET_DATAGRAM *d, const UCHAR *const *data, ULONG count, ULONG *sent);
NTSTATUS NetReceiveDatagram(USHORT localPort, UCHAR *buf, ULONG cap, ULONG *length, ULONG *from, USHORT *fromPort,
                            ULONG timeoutMs);
/* Waits one clock tick; returns FALSE once deadline (KeTickCount) passed. */
BOOLEAN NetWaitTick(ULONG64 deadline);
ULONG64 NetDeadline(ULONG timeoutMs);

static inline void NetPut16(UCHAR *p, ULONG v) {
    p[0] = (UCHAR)(v >> 8);
    p[1] = (UCHAR)v;
}
static inline void NetPut32(UCHAR *p, ULONG v) {
    p[0] = (UCHAR)(v >> 24);
    p[1] = (UCHAR)(v >> 16);
    p[2] = (UCHAR)(v >> 8);
    p[3] = (UCHAR)v;
}
static inline ULONG NetGet16(const UCHAR *p) { return ((ULONG)p[0] << 8) | p[1]; }
static inline ULONG NetGet32(const UCHAR *p) {
    return ((ULONG)p[0] << 24) | ((ULONG)p[1] << 16) | ((ULONG)p[2] << 8) | p[3];
}

/* nettcp.c */
void NetTcpInput(ULONG src, const UCHAR srcMac[6], const UCHAR *seg, ULONG length);
NTSTATUS NetTcpConnect(ULONG ip, USHORT port, ULONG timeoutMs);
NTSTATUS NetTcpSend(const UCHAR *data, ULONG length, ULONG *sent);
NTSTATUS NetTcpReceive(UCHAR *buf, ULONG cap, ULONG *received, ULONG timeoutMs);
NTSTATUS NetTcpClose(ULONG timeoutMs);

/* netsock.c */
void NetReadOptions(void);

#endif
