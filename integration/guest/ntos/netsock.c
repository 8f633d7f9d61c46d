/*
 * The network system services (issue 17), mini-NT's own, called by
 * netclient.exe through ntdll's stubs: NtFrostNet* (numbers in sysent.c).
 * Each captures what the caller passes before anything waits, and probes
 * the caller's buffers again before writing results, since a wait lets
 * the balance set manager trim them. The first call binds the stack to the
 * adapter (NetBind); without a NIC every call fails with
 * STATUS_NO_SUCH_DEVICE, which is how smss knows not to start netclient.
 *
 * netclient's workload comes from LoadOptions words (the loader block's
 * string, like Windows' own KEY=VALUE options), read when the stack binds:
 *   NETROUNDS=N    rounds of the workload (0: forever)         default 1
 *   NETPERIOD=MS   between rounds                              2000
 *   NETDELAY=MS    before the first round                      0
 *   NETPINGS=N     echo requests to the gateway per round      3
 *   NETDNS=N       DNS queries to 10.0.2.3 per round           1
 *   NETUDP=N       "frost-udp K" datagrams per round (one chain) 5
 *   NETUDPPORT=P   their port on the gateway                   5555
 *   NETTCPPORT=P   the gateway's TCP port to talk to (0: none)  7777
 *   NETBURST=N     "frost-burst K" datagrams per round, chains of 32 0
 *   NETFRAMELOG=0  no net-frame line per frame                 1
 */
#include "net.h"

static ULONG NetOption(const char *key, ULONG dflt) {
    SIZE_T n = RtlStringLength(key);
    for (const char *p = CmLoadOptions; *p;) {
        while (*p == ' ' || *p == '/') p++;
        const char *tok = p;
        while (*p && *p != ' ') p++;
        if ((SIZE_T)(p - tok) > n && tok[n] == '=' && RtlEqualAsciiInsensitive(tok, key, n)) {
            const char *v = tok + n + 1;
            if (v == p || *v < '0' || *v > '9') return dflt;
            ULONG x = 0;
            for (; v < p && *v >= '0' && *v <= '9'; v++) x = x * 10 + (ULONG)(*v - '0');
            return x;
        }
    }
    return dflt;
}

void NetReadOptions(void) {
    NetInfo.Rounds = NetOption("NETROUNDS", 1);
    NetInfo.PeriodMs = NetOption("NETPERIOD", 2000);
    NetInfo.DelayMs = NetOption("NETDELAY", 0);
    NetInfo.Pings = NetOption("NETPINGS", 3);
    NetInfo.DnsQueries = NetOption("NETDNS", 1);
    NetInfo.Datagrams = NetOption("NETUDP", 5);
    NetInfo.UdpPort = NetOption("NETUDPPORT", 5555) & 0xffff;
    NetInfo.TcpPort = NetOption("NETTCPPORT", 7777) & 0xffff;
    NetInfo.Burst = NetOption("NETBURST", 0);
    NetInfo.FrameLog = NetOption("NETFRAMELOG", 1) != 0;
}

NTSTATUS NtFrostNetQueryInformation(PVOID Information, ULONG Length, PULONG ReturnLength) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (Length < sizeof(FROST_NET_INFORMATION)) return STATUS_INFO_LENGTH_MISMATCH;
    if (!MmProbeUserRange(Information, sizeof(FROST_NET_INFORMATION), TRUE) ||
        (ReturnLength && !MmProbeUserRange(ReturnLength, sizeof(ULONG), TRUE)))
        return STATUS_ACCESS_VIOLATION;
    memcpy(Information, &NetInfo, sizeof(NetInfo));
    if (ReturnLength) *ReturnLength = sizeof(NetInfo);
    return STATUS_SUCCESS;
}

NTSTATUS NtFrostNetPing(FROST_NET_PING *Ping) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (!MmProbeUserRange(Ping, sizeof(*Ping), TRUE)) return STATUS_ACCESS_VIOLATION;
    FROST_NET_PING ping = *Ping;
    st = NetPing(&ping);
    if (!MmProbeUserRange(Ping, sizeof(*Ping), TRUE)) return STATUS_ACCESS_VIOLATION;
    Ping->RoundTripMs = ping.RoundTripMs;
    Ping->ReplyLength = ping.ReplyLength;
    Ping->ReplyTtl = ping.ReplyTtl;
    return st;
}

static UCHAR NetSockData[FROST_NET_MAX_BATCH][FROST_NET_MAX_UDP];

/* Count datagrams (up to FROST_NET_MAX_BATCH), all in one
   NdisSendNetBufferLists call: a chain of Count NBLs. */
NTSTATUS NtFrostNetSendDatagrams(const FROST_NET_DATAGRAM *Datagrams, ULONG Count, PULONG Sent) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (Count == 0 || Count > FROST_NET_MAX_BATCH) return STATUS_INVALID_PARAMETER;
    if (!MmProbeUserRange(Datagrams, Count * sizeof(FROST_NET_DATAGRAM), FALSE) ||
        (Sent && !MmProbeUserRange(Sent, sizeof(ULONG), TRUE)))
        return STATUS_ACCESS_VIOLATION;
    FROST_NET_DATAGRAM d[FROST_NET_MAX_BATCH];
    const UCHAR *data[FROST_NET_MAX_BATCH];
    memcpy(d, Datagrams, Count * sizeof(FROST_NET_DATAGRAM));
    for (ULONG i = 0; i < Count; i++) {
        if (d[i].Length > FROST_NET_MAX_UDP) return STATUS_INVALID_PARAMETER;
        if (!MmProbeUserRange(d[i].Data, d[i].Length, FALSE)) return STATUS_ACCESS_VIOLATION;
        memcpy(NetSockData[i], d[i].Data, d[i].Length);
        data[i] = NetSockData[i];
    }
    ULONG sent = 0;
    st = NetSendDatagrams(d, data, Count, &sent);
    if (Sent) {
        if (!MmProbeUserRange(Sent, sizeof(ULONG), TRUE)) return STATUS_ACCESS_VIOLATION;
        *Sent = sent;
    }
    return st;
}

/* The oldest datagram received for LocalPort, waiting up to TimeoutMs:
   Datagram->Data and Length (in: the buffer's size) say where it goes;
   Length, RemoteAddress and RemotePort come back. */
NTSTATUS NtFrostNetReceiveDatagram(ULONG LocalPort, FROST_NET_DATAGRAM *Datagram, ULONG TimeoutMs) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (LocalPort == 0 || LocalPort > 0xffff) return STATUS_INVALID_PARAMETER;
    if (!MmProbeUserRange(Datagram, sizeof(*Datagram), TRUE)) return STATUS_ACCESS_VIOLATION;
    FROST_NET_DATAGRAM d = *Datagram;
    static UCHAR buf[FROST_NET_MAX_UDP];
    ULONG length = 0, from = 0;
    USHORT fromPort = 0;
    ULONG cap = d.Length < sizeof(buf) ? d.Length : sizeof(buf);
    st = NetReceiveDatagram((USHORT)LocalPort, buf, cap, &length, &from, &fromPort, TimeoutMs);
    if (st == (NTSTATUS)FROST_STATUS_IO_TIMEOUT) return st;
    if (!MmProbeUserRange(Datagram, sizeof(*Datagram), TRUE) || !MmProbeUserRange(d.Data, length, TRUE))
        return STATUS_ACCESS_VIOLATION;
    memcpy(d.Data, buf, length);
    Datagram->Length = length;
    Datagram->RemoteAddress = from;
    Datagram->RemotePort = fromPort;
    Datagram->LocalPort = (USHORT)LocalPort;
    return st;
}

NTSTATUS NtFrostNetConnect(ULONG Address, ULONG Port, ULONG TimeoutMs) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (Port == 0 || Port > 0xffff) return STATUS_INVALID_PARAMETER;
    return NetTcpConnect(Address, (USHORT)Port, TimeoutMs);
}

static UCHAR NetSockStream[8192];

NTSTATUS NtFrostNetSend(PVOID Data, ULONG Length, PULONG Sent) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (Length > sizeof(NetSockStream)) return STATUS_INVALID_PARAMETER;
    if (!MmProbeUserRange(Data, Length, FALSE) || (Sent && !MmProbeUserRange(Sent, sizeof(ULONG), TRUE)))
        return STATUS_ACCESS_VIOLATION;
    memcpy(NetSockStream, Data, Length);
    ULONG sent = 0;
    st = NetTcpSend(NetSockStream, Length, &sent);
    if (Sent) {
        if (!MmProbeUserRange(Sent, sizeof(ULONG), TRUE)) return STATUS_ACCESS_VIOLATION;
        *Sent = sent;
    }
    return st;
}

NTSTATUS NtFrostNetReceive(PVOID Buffer, ULONG Length, PULONG Received, ULONG TimeoutMs) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    if (!MmProbeUserRange(Received, sizeof(ULONG), TRUE)) return STATUS_ACCESS_VIOLATION;
    static UCHAR buf[8192];
    ULONG got = 0;
    st = NetTcpReceive(buf, Length < sizeof(buf) ? Length : sizeof(buf), &got, TimeoutMs);
    if (!MmProbeUserRange(Buffer, got, TRUE) || !MmProbeUserRange(Received, sizeof(ULONG), TRUE))
        return STATUS_ACCESS_VIOLATION;
    memcpy(Buffer, buf, got);
    *Received = got;
    return st;
}

NTSTATUS NtFrostNetClose(ULONG TimeoutMs) {
    NTSTATUS st = NetBind();
    if (!NT_SUCCESS(st)) return st;
    return NetTcpClose(TimeoutMs);
}
