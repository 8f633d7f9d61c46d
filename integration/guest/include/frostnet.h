/*
 * mini-NT's network services (issue 17): what a user program passes to the
 * NtFrostNet* system services (ntos/netsock.c) and gets back. Shared by the
 * kernel and user images; plain C types, as each side has its own typedefs.
 *
 * IPv4 addresses are host-order integers: 10.0.2.2 is 0x0A000202. Ports
 * are host-order too. The stack's own addressing is static, QEMU slirp's
 * defaults: 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3 (no DHCP).
 */
#ifndef MININT_FROSTNET_H
#define MININT_FROSTNET_H

#define FROST_NET_ADDRESS(a, b, c, d) \
    (((unsigned int)(a) << 24) | ((unsigned int)(b) << 16) | ((unsigned int)(c) << 8) | (unsigned int)(d))
#define FROST_NET_GUEST FROST_NET_ADDRESS(10, 0, 2, 15)
#define FROST_NET_GATEWAY FROST_NET_ADDRESS(10, 0, 2, 2)
#define FROST_NET_DNS FROST_NET_ADDRESS(10, 0, 2, 3)

/* The most datagrams one NtFrostNetSendDatagrams call sends, all in one
   NdisSendNetBufferLists call (a chain of that many NBLs). */
#define FROST_NET_MAX_BATCH 32
/* The largest UDP payload and TCP segment the stack builds (one frame). */
#define FROST_NET_MAX_UDP 1472
#define FROST_NET_MSS 1460
#define FROST_NET_MAX_PING_DATA 64

/* Statuses the services return besides the usual ones. */
#define FROST_STATUS_NO_SUCH_DEVICE 0xC000000Eu     /* the machine has no NIC */
#define FROST_STATUS_IO_TIMEOUT 0xC00000B5u         /* no answer in time */
#define FROST_STATUS_CONNECTION_REFUSED 0xC0000236u /* RST to our SYN */
#define FROST_STATUS_CONNECTION_RESET 0xC000020Du   /* RST later */
#define FROST_STATUS_INVALID_DEVICE_STATE 0xC0000184u /* wrong TCP state for the call */
#define FROST_STATUS_HOST_UNREACHABLE 0xC000023Du   /* no ARP answer */
#define FROST_STATUS_END_OF_FILE 0xC0000011u        /* the peer's FIN, nothing left */

/* NtFrostNetQueryInformation: the interface and netclient's options, which
   come from LoadOptions words (NETROUNDS=, NETPERIOD=, ...; see netsock.c). */
typedef struct _FROST_NET_INFORMATION {
    unsigned char MacAddress[6];
    unsigned short Reserved;
    unsigned int Address, Mask, Gateway, Dns;
    /* netclient's workload */
    unsigned int Rounds;     /* 0: forever */
    unsigned int PeriodMs;   /* between rounds */
    unsigned int DelayMs;    /* before the first */
    unsigned int Pings;      /* echo requests to the gateway per round */
    unsigned int DnsQueries; 
    unsigned int Datagrams;  /* "frost-udp N" datagrams per round, one chained send */
    unsigned int UdpPort;    /* where they go, on the gateway */
    unsigned int TcpPort;    /* 0: no TCP */
    unsigned int Burst;      /* "frost-burst N" datagrams per round, as fast as possible */
    unsigned int FrameLog;   /* the kernel prints a net-frame line per frame */
    /* counters */
    unsigned long long FramesSent, FramesReceived, SendFailures;
} FROST_NET_INFORMATION;

/* NtFrostNetPing: one ICMP echo request, and its reply awaited. */
typedef struct _FROST_NET_PING {
    unsigned int Address;
    unsigned short Identifier, Sequence;
    unsigned int DataLength; /* up to FROST_NET_MAX_PING_DATA */
    unsigned int TimeoutMs;
    unsigned char Data[FROST_NET_MAX_PING_DATA];
    /* out */
    unsigned int RoundTripMs;
    unsigned int ReplyLength; /* of the reply's ICMP data */
    unsigned int ReplyTtl;
    unsigned int Reserved;
} FROST_NET_PING;

/* One UDP datagram, to send (NtFrostNetSendDatagrams) or received
   (NtFrostNetReceiveDatagram: Length in is the buffer's size, out the
   datagram's; the remote fields are filled). */
typedef struct _FROST_NET_DATAGRAM {
    unsigned int RemoteAddress;
    unsigned short RemotePort, LocalPort;
    unsigned int Length;
    unsigned int Reserved;
    void *Data;
} FROST_NET_DATAGRAM;

#endif
