/*
 * netclient.exe (issue 17): the network workload, in its own process so
 * that what it sends is sent in its own thread and a monitor can attribute
 * it. smss starts it only when the machine has a NIC. Each round it
 *   - pings the gateway (10.0.2.2) NETPINGS times,
 *   - sends NETDNS queries for example.com's A record to slirp's DNS
 *     (10.0.2.3) and waits up to 2 s for each reply (the host's resolver
 *     may be unreachable: the query is what matters),
 *   - sends NETUDP datagrams "frost-udp K" (K counts over all rounds from
 *     1) to the gateway's NETUDPPORT in one call, so one chain of NBLs,
 *   - connects to the gateway's NETTCPPORT (slirp forwards it to the
 *     host's 127.0.0.1), sends "frost-tcp R from netclient.exe\n", reads
 *     until as many bytes came back (an echo server) and closes,
 *   - sends NETBURST datagrams "frost-burst K" as fast as it can, in calls
 *     of FROST_NET_MAX_BATCH,
 * reports each step and a summary, then waits NETPERIOD ms; after
 * NETROUNDS rounds it sleeps for good. The options are LoadOptions words,
 * which the kernel reads (ntos/netsock.c).
 */
#include "ntdll.h"

#define DNS_PORT 53
#define DNS_LOCAL_PORT 50053
#define UDP_LOCAL_PORT 50000
#define BURST_LOCAL_PORT 50001
#define PING_ID 0x4652 /* "FR" */

static FROST_NET_INFORMATION Info;

typedef struct _ROUND_COUNTS {
    ULONG Pings, PingReplies, Dns, DnsReplies, Udp, UdpBytes, TcpSent, TcpEchoed, Burst, BurstSent;
} ROUND_COUNTS;

static ULONG PingSequence, UdpNumber, BurstNumber;
static USHORT DnsId = 0x1700;

static void Pings(ROUND_COUNTS *c) {
    for (ULONG i = 0; i < Info.Pings; i++) {
        FROST_NET_PING p;
        memset(&p, 0, sizeof(p));
        p.Address = FROST_NET_GATEWAY;
        p.Identifier = PING_ID;
        p.Sequence = (USHORT)++PingSequence;
        p.TimeoutMs = 2000;
        p.DataLength = RtlFormat((char *)p.Data, sizeof(p.Data), "frost-ping %u", PingSequence);
        NTSTATUS st = NtFrostNetPing(&p);
        c->Pings++;
        if (NT_SUCCESS(st)) c->PingReplies++;
        DbgPrint("frost-guest: netclient-ping seq=%u id=0x%x len=%u status=0x%08x reply=%u rtt-ms=%u ttl=%u\n",
                 PingSequence, PING_ID, p.DataLength, (ULONG)st, NT_SUCCESS(st) ? 1 : 0, p.RoundTripMs, p.ReplyTtl);
    }
}

/* A query for name's A record: the header (id, RD), then the question. */
static ULONG DnsQuery(UCHAR *q, USHORT id, const char *name) {
    ULONG n = 0;
    q[n++] = (UCHAR)(id >> 8);
    q[n++] = (UCHAR)id;
    q[n++] = 0x01; /* RD */
    q[n++] = 0x00;
    q[n++] = 0, q[n++] = 1; /* QDCOUNT */
    for (int i = 0; i < 6; i++) q[n++] = 0;
    for (const char *p = name; *p;) {
        const char *label = p;
        while (*p && *p != '.') p++;
        q[n++] = (UCHAR)(p - label);
        while (label < p) q[n++] = (UCHAR)*label++;
        if (*p == '.') p++;
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = 1; /* QTYPE A */
    q[n++] = 0, q[n++] = 1; /* QCLASS IN */
    return n;
}

static void DnsQueries(ROUND_COUNTS *c) {
    static const char name[] = "example.com";
    for (ULONG i = 0; i < Info.DnsQueries; i++) {
        UCHAR query[64];
        USHORT id = ++DnsId;
        FROST_NET_DATAGRAM d = {FROST_NET_DNS, DNS_PORT, DNS_LOCAL_PORT, DnsQuery(query, id, name), 0, query};
        ULONG sent = 0;
        NTSTATUS st = NtFrostNetSendDatagrams(&d, 1, &sent);
        c->Dns++;
        ULONG reply = 0, answers = 0, rcode = 0, length = 0;
        NTSTATUS rst = st;
        /* Replies to earlier queries that came late are skipped. */
        while (NT_SUCCESS(st)) {
            static UCHAR answer[512];
            FROST_NET_DATAGRAM r = {0, 0, 0, sizeof(answer), 0, answer};
            rst = NtFrostNetReceiveDatagram(DNS_LOCAL_PORT, &r, 2000);
            if (!NT_SUCCESS(rst)) break;
            if (r.Length < 12 || answer[0] != (UCHAR)(id >> 8) || answer[1] != (UCHAR)id || !(answer[2] & 0x80))
                continue;
            reply = 1;
            rcode = answer[3] & 0xf;
            answers = ((ULONG)answer[6] << 8) | answer[7];
            length = r.Length;
            c->DnsReplies++;
            break;
        }
        DbgPrint("frost-guest: netclient-dns id=0x%x name=%s len=%u status=0x%08x reply=%u reply-status=0x%08x "
                 "rcode=%u answers=%u reply-len=%u\n",
                 (ULONG)id, name, d.Length, (ULONG)st, reply, (ULONG)rst, rcode, answers, length);
    }
}

/* The round's datagrams in one call: one chain of NBLs. */
static void Datagrams(ROUND_COUNTS *c) {
    static char payload[FROST_NET_MAX_BATCH][32];
    FROST_NET_DATAGRAM d[FROST_NET_MAX_BATCH];
    ULONG count = Info.Datagrams < FROST_NET_MAX_BATCH ? Info.Datagrams : FROST_NET_MAX_BATCH;
    if (count == 0) return;
    ULONG first = UdpNumber + 1;
    for (ULONG i = 0; i < count; i++) {
        ULONG len = RtlFormat(payload[i], sizeof(payload[i]), "frost-udp %u", ++UdpNumber);
        FROST_NET_DATAGRAM x = {FROST_NET_GATEWAY, (USHORT)Info.UdpPort, UDP_LOCAL_PORT, len, 0, payload[i]};
        d[i] = x;
    }
    ULONG sent = 0;
    NTSTATUS st = NtFrostNetSendDatagrams(d, count, &sent);
    for (ULONG i = 0; i < count; i++) {
        DbgPrint("frost-guest: netclient-udp n=%u len=%u port=%u chain=%u status=0x%08x\n", first + i, d[i].Length,
                 Info.UdpPort, count, (ULONG)st);
        if (i < sent) {
            c->Udp++;
            c->UdpBytes += d[i].Length;
        }
    }
}

static void Tcp(ULONG round, ROUND_COUNTS *c) {
    if (!Info.TcpPort) return;
    char msg[64];
    static char echo[64];
    ULONG len = RtlFormat(msg, sizeof(msg), "frost-tcp %u from netclient.exe\n", round);
    ULONG sent = 0, echoed = 0;
    NTSTATUS send = 0, recv = 0, close = 0;
    NTSTATUS connect = NtFrostNetConnect(FROST_NET_GATEWAY, Info.TcpPort, 5000);
    if (NT_SUCCESS(connect)) {
        send = NtFrostNetSend(msg, len, &sent);
        while (NT_SUCCESS(send) && echoed < sent) {
            ULONG got = 0;
            recv = NtFrostNetReceive(echo + echoed, sizeof(echo) - echoed, &got, 5000);
            if (!NT_SUCCESS(recv)) break;
            echoed += got;
        }
        close = NtFrostNetClose(3000);
    }
    ULONG match = echoed == sent && sent == len;
    for (ULONG i = 0; match && i < len; i++)
        if (echo[i] != msg[i]) match = 0;
    c->TcpSent += sent;
    c->TcpEchoed += echoed;
    DbgPrint("frost-guest: netclient-tcp port=%u status=0x%08x sent=%u echoed=%u match=%u send-status=0x%08x "
             "recv-status=0x%08x close-status=0x%08x\n",
             Info.TcpPort, (ULONG)connect, sent, echoed, match, (ULONG)send, (ULONG)recv, (ULONG)close);
}

static void Burst(ROUND_COUNTS *c) {
    static char payload[FROST_NET_MAX_BATCH][32];
    FROST_NET_DATAGRAM d[FROST_NET_MAX_BATCH];
    ULONG first = BurstNumber + 1, calls = 0;
    NTSTATUS st = 0;
    for (ULONG done = 0; done < Info.Burst && NT_SUCCESS(st);) {
        ULONG count = Info.Burst - done < FROST_NET_MAX_BATCH ? Info.Burst - done : FROST_NET_MAX_BATCH;
        for (ULONG i = 0; i < count; i++) {
            ULONG len = RtlFormat(payload[i], sizeof(payload[i]), "frost-burst %u", ++BurstNumber);
            FROST_NET_DATAGRAM x = {FROST_NET_GATEWAY, (USHORT)Info.UdpPort, BURST_LOCAL_PORT, len, 0, payload[i]};
            d[i] = x;
        }
        ULONG sent = 0;
        st = NtFrostNetSendDatagrams(d, count, &sent);
        calls++;
        c->BurstSent += sent;
        done += count;
    }
    c->Burst += Info.Burst;
    if (Info.Burst)
        DbgPrint("frost-guest: netclient-burst first=%u count=%u sent=%u calls=%u status=0x%08x\n", first, Info.Burst,
                 c->BurstSent, calls, (ULONG)st);
}

void NtProcessStartup(PVOID Peb) {
    (void)Peb;
    NTSTATUS st;
    /* The NIC is there (smss asked), but give it time to come up. */
    for (ULONG waited = 0;; waited += 100) {
        st = NtFrostNetQueryInformation(&Info, sizeof(Info), 0);
        if (NT_SUCCESS(st) || waited >= 30000) break;
        Sleep(100);
    }
    if (!NT_SUCCESS(st)) {
        DbgPrint("frost-guest: netclient-error what=NtFrostNetQueryInformation status=0x%08x\n", (ULONG)st);
        RtlExitUserProcess(st);
    }
    PROCESS_BASIC_INFORMATION pbi;
    memset(&pbi, 0, sizeof(pbi));
    NtQueryInformationProcess((HANDLE)-1, 0, &pbi, sizeof(pbi), 0);
    DbgPrint("frost-guest: netclient-start pid=%llu rounds=%u period=%u delay=%u pings=%u dns=%u udp=%u udp-port=%u "
             "tcp-port=%u burst=%u frame-log=%u\n",
             pbi.UniqueProcessId, Info.Rounds, Info.PeriodMs, Info.DelayMs, Info.Pings, Info.DnsQueries,
             Info.Datagrams, Info.UdpPort, Info.TcpPort, Info.Burst, Info.FrameLog);
    if (Info.DelayMs) Sleep(Info.DelayMs);
    for (ULONG round = 1; Info.Rounds == 0 || round <= Info.Rounds; round++) {
        ROUND_COUNTS c;
        memset(&c, 0, sizeof(c));
        DbgPrint("frost-guest: netclient-round round=%u\n", round);
        Pings(&c);
        DnsQueries(&c);
        Datagrams(&c);
        Tcp(round, &c);
        Burst(&c);
        FROST_NET_INFORMATION now;
        NtFrostNetQueryInformation(&now, sizeof(now), 0);
        DbgPrint("frost-guest: netclient-summary round=%u pings=%u ping-replies=%u dns=%u dns-replies=%u udp=%u "
                 "udp-bytes=%u tcp-sent=%u tcp-echoed=%u burst=%u burst-sent=%u frames-sent=%llu "
                 "frames-received=%llu send-failures=%llu\n",
                 round, c.Pings, c.PingReplies, c.Dns, c.DnsReplies, c.Udp, c.UdpBytes, c.TcpSent, c.TcpEchoed,
                 c.Burst, c.BurstSent, now.FramesSent, now.FramesReceived, now.SendFailures);
        if (Info.Rounds == 0 || round < Info.Rounds) Sleep(Info.PeriodMs);
    }
    DbgPrint("frost-guest: netclient-idle\n");
    for (;;) Sleep(1000);
}
