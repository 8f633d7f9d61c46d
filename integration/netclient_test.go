package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/digitalocean/go-libvirt"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// TestNetClientWorkload boots mini-NT with a NIC (user-mode e1000 under
// libvirt, QEMU's filter-dump on it) and checks netclient.exe's workload
// against the host and the dump: the host's UDP socket gets exactly the
// datagrams "frost-udp 1..5" netclient reports, the host's TCP echo
// listener (reached through slirp's 10.0.2.2) echoes netclient's message,
// the gateway answers its pings; every frame the stack reports is one the
// miniport reports, and in the dump, byte for byte by hash; each frame
// sent is attributed to the thread that sent it: netclient's for its echo
// requests, datagrams (UDP in a chain of 5 NBLs, two MDLs at DataOffset
// 86; DNS in four MDLs at DataOffset 40), ARP requests, SYN, data and FIN,
// System's for the ACKs and any ARP or echo reply.
func TestNetClientWorkload(t *testing.T) {
	run := bootNetClient(t, minint.NetClientOptions{})
	rep, nc := run.rep, run.nc
	t.Logf("netclient %+v: %+v", nc.Start, nc.Rounds)
	checkNetClientRound(t, nc, run.received)
	ni, err := rep.NetInterface()
	if err != nil {
		t.Fatal(err)
	}
	up, err := rep.NetUp()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ni.MAC, up.MAC) || ni.Address.String() != "10.0.2.15" || ni.Config != "static" {
		t.Errorf("net-interface %+v, net-up %+v", ni, up)
	}
	names := map[uint64]string{}
	for _, e := range rep.All("process") {
		pid, _ := e.Uint("pid")
		names[pid] = e.Get("name")
	}
	if names[nc.Start.PID] != "netclient.exe" {
		t.Errorf("netclient-start pid=%d, whose process event names %q", nc.Start.PID, names[nc.Start.PID])
	}
	counts := checkStackFrames(t, rep, run.dump, up.MAC, nc.Start.PID)
	for kind, want := range map[string]int{"echo-request": 3, "dns": 1, "udp": 5, "tcp-syn": 1, "tcp-data": 1, "tcp-fin": 1} {
		if counts[kind] < want {
			t.Errorf("%d %s frames sent, want %d at least (all: %v)", counts[kind], kind, want, counts)
		}
	}
}

// TestNetClientBurst runs two rounds of a burst of 100 datagrams and a
// connection to a TCP port nobody listens on: each round's burst goes down
// in calls of at most 32 chained NBLs, every datagram reaches the host,
// slirp's RST refuses the connection, and every frame is attributed to
// netclient.exe.
func TestNetClientBurst(t *testing.T) {
	const burst = 100
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	run := bootNetClient(t, minint.NetClientOptions{Rounds: 2, PeriodMS: 200, Pings: minint.NoneOf,
		DNS: minint.NoneOf, UDP: minint.NoneOf, TCPPort: port, Burst: burst})
	nc := run.nc
	if !nc.Idle || len(nc.Rounds) != 2 {
		t.Fatalf("netclient %+v, want two finished rounds", nc)
	}
	var want []string
	for i, r := range nc.Rounds {
		b := r.Burst
		if b == nil || b.First != uint64(i*burst+1) || b.Count != burst || b.Sent != burst || b.Calls != 4 ||
			b.Status != 0 || r.Summary.SendFailures != 0 {
			t.Errorf("round %d: burst %+v summary %+v", r.Round, b, r.Summary)
		}
		if c := r.TCP; c == nil || c.Status != 0xc0000236 || c.Sent != 0 { // STATUS_CONNECTION_REFUSED
			t.Errorf("round %d: tcp %+v, want the connection refused", r.Round, c)
		}
		for k := 0; k < burst; k++ {
			want = append(want, fmt.Sprintf("frost-burst %d", i*burst+k+1))
		}
	}
	var got []string
	for len(got) < len(want) {
		got = append(got, <-run.received)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the host received %d datagrams %q..., netclient sent %d", len(got), got[:3], len(want))
	}
	up, err := run.rep.NetUp()
	if err != nil {
		t.Fatal(err)
	}
	counts := checkStackFrames(t, run.rep, run.dump, up.MAC, nc.Start.PID)
	if counts["udp"] != 2*burst {
		t.Errorf("%d datagrams sent, want %d (all: %v)", counts["udp"], 2*burst, counts)
	}
}

type netClientRun struct {
	rep      minint.Report
	nc       minint.NetClientReport
	dump     string      // QEMU's filter-dump of the NIC
	received chan string // the datagrams the host's UDP socket got
}

// bootNetClient boots mini-NT with a NIC and netclient's options o (its UDP
// and TCP ports pointed at a UDP socket and a TCP echo listener on the
// host's loopback, unless o turns TCP off), waits until netclient is idle
// and the boot ready, and stops the machine.
func bootNetClient(t *testing.T, o minint.NetClientOptions) netClientRun {
	t.Helper()
	out := requireGuest(t)
	l := setupLibvirt(t)

	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	go echoServer(tcp)
	received := make(chan string, 1024)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				close(received)
				return
			}
			received <- string(buf[:n])
		}
	}()
	o.UDPPort = udp.LocalAddr().(*net.UDPAddr).Port
	if o.TCPPort == 0 {
		o.TCPPort = tcp.Addr().(*net.TCPAddr).Port
	}
	opts, err := o.LoadOptions()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), bootDeadline)
	defer cancel()
	lock, err := minint.LockTCG(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Unlock() })
	clearStaleDomains(t, l)

	dump := filepath.Join(t.TempDir(), "oracle.pcap")
	name := fmt.Sprintf("%snetclient-%d", testDomainPrefix, os.Getpid())
	d, err := minint.NewDomain(name, minint.Config{GuestDir: out, Seed: minint.Seed(23), Network: true,
		FilterDump: dump, LoadOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove() })
	domXML, err := d.XML()
	if err != nil {
		t.Fatal(err)
	}
	dom, err := l.DomainDefineXML(domXML)
	if err != nil {
		t.Fatalf("defining the domain: %v\n%s", err, domXML)
	}
	t.Cleanup(func() {
		if err := removeDomain(l, dom); err != nil {
			t.Errorf("cleaning up domain %s: %v", name, err)
		}
	})
	if err := l.DomainCreate(dom); err != nil {
		t.Fatalf("starting the domain: %v", err)
	}
	alive := func() error {
		state, _, err := l.DomainGetState(dom, 0)
		if err != nil {
			return fmt.Errorf("domain state: %w", err)
		}
		if libvirt.DomainState(state) != libvirt.DomainRunning {
			return fmt.Errorf("domain %s left the running state (state %d)", name, state)
		}
		return nil
	}
	for _, ev := range []string{"netclient-idle", "ready"} {
		if _, err := minint.WaitSerialFile(ctx, d.SerialPath(), minint.MatchEvent(ev), alive); err != nil {
			t.Fatalf("waiting for %s: %v\nserial log:\n%s", ev, err, serialTail(d.SerialPath()))
		}
	}
	if err := l.DomainDestroy(dom); err != nil {
		t.Fatalf("destroying the domain: %v", err)
	}
	f, err := os.Open(d.SerialPath())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := minint.ParseReport(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := rep.NetClient()
	if err != nil {
		t.Fatal(err)
	}
	return netClientRun{rep: rep, nc: nc, dump: dump, received: received}
}

// checkNetClientRound checks the one round of the default workload, and
// what the host's UDP socket received.
func checkNetClientRound(t *testing.T, nc minint.NetClientReport, received <-chan string) {
	t.Helper()
	if !nc.Idle || len(nc.Rounds) != 1 || nc.Rounds[0].Summary == nil {
		t.Fatalf("netclient: %+v, want one finished round", nc)
	}
	r := nc.Rounds[0]
	if len(r.Pings) != 3 {
		t.Errorf("pings %+v, want 3", r.Pings)
	}
	for _, p := range r.Pings {
		if !p.Reply || p.Status != 0 {
			t.Errorf("ping %+v: the gateway did not answer", p)
		}
	}
	if len(r.DNS) != 1 || r.DNS[0].Status != 0 || r.DNS[0].Name != "example.com" {
		t.Errorf("dns %+v, want one query for example.com sent", r.DNS)
	}
	var want []string
	for i, u := range r.UDP {
		if u.N != uint64(i+1) || u.Status != 0 || u.Chain != 5 || u.Len != len(fmt.Sprintf("frost-udp %d", u.N)) {
			t.Errorf("udp %+v", u)
		}
		want = append(want, fmt.Sprintf("frost-udp %d", u.N))
	}
	if len(r.UDP) != 5 {
		t.Errorf("%d datagrams reported, want 5", len(r.UDP))
	}
	// slirp delivered every datagram before netclient went idle; the
	// socket has read them by the time the guest is destroyed, give or take
	// scheduling: read what is there without waiting for more than 5.
	var got []string
	for len(got) < len(want) {
		got = append(got, <-received)
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the host received %q, netclient sent %q", got, want)
	}
	msg := "frost-tcp 1 from netclient.exe\n"
	if c := r.TCP; c == nil || c.Status != 0 || !c.Match || c.Sent != len(msg) || c.Echoed != len(msg) ||
		c.CloseStatus != 0 {
		t.Errorf("tcp %+v, want %d bytes sent and echoed, closed", c, len(msg))
	}
	s := r.Summary
	if s.Pings != 3 || s.PingReplies != 3 || s.UDP != 5 || s.TCPSent != len(msg) || s.TCPEchoed != len(msg) ||
		s.SendFailures != 0 {
		t.Errorf("summary %+v", s)
	}
}

// checkStackFrames compares the stack's frames with the miniport's and
// the dump's, and checks who sent each and in what shape.
func checkStackFrames(t *testing.T, rep minint.Report, dump string, mac net.HardwareAddr, netclient uint64) map[string]int {
	t.Helper()
	tx, err := rep.StackFrames("tx")
	if err != nil {
		t.Fatal(err)
	}
	rx, err := rep.StackFrames("rx")
	if err != nil {
		t.Fatal(err)
	}
	mtx, err := rep.NetFrames("tx")
	if err != nil {
		t.Fatal(err)
	}
	mrx, err := rep.NetFrames("rx")
	if err != nil {
		t.Fatal(err)
	}
	frames, _, err := minint.ReadPcap(dump)
	if err != nil {
		t.Fatal(err)
	}
	var dumpTx [][]byte
	for _, b := range frames {
		if len(b) >= 12 && bytes.Equal(b[6:12], mac) {
			dumpTx = append(dumpTx, b)
		}
	}
	// The miniport's first frames are its own start-up check; the stack's
	// are the rest, in order. Received frames reach the stack once bound.
	if len(mtx) < len(tx) || len(dumpTx) != len(mtx) {
		t.Fatalf("the stack reports %d frames sent, the miniport %d, the dump holds %d", len(tx), len(mtx), len(dumpTx))
	}
	skip := len(mtx) - len(tx)
	if len(mrx) < len(rx) {
		t.Fatalf("the stack reports %d frames received, the miniport %d", len(rx), len(mrx))
	}
	for i, f := range rx {
		m := mrx[len(mrx)-len(rx)+i]
		if f.Len != m.Len || f.Hash != m.Hash || f.PID != 4 {
			t.Errorf("rx %d: stack %+v, miniport %+v (want both alike, in System)", i, f, m)
		}
	}
	counts := map[string]int{}
	for i, f := range tx {
		m, b := mtx[skip+i], dumpTx[skip+i]
		if f.Len != m.Len || f.Hash != m.Hash || f.Hash != minint.FrameHash(b) {
			t.Errorf("tx %d: stack %+v, miniport %+v, dump hash %#x", i, f, m, minint.FrameHash(b))
			continue
		}
		kind, fromClient := classifyFrame(b)
		counts[kind]++
		wantPID := uint64(4)
		if fromClient {
			wantPID = netclient
		}
		if f.PID != wantPID {
			t.Errorf("tx %d (%s) sent in pid %d (%s), want %d", i, kind, f.PID, f.Process, wantPID)
		}
		switch kind {
		case "udp":
			// The workload's 5 datagrams are one chain, a burst's up to 32.
			if f.ChainMDLs != 2 || f.DataOffset != 128-42 || f.NBLs < 2 || f.NBLs > 32 {
				t.Errorf("udp frame %+v, want 2 MDLs at DataOffset 86 in a chain of 2..32 NBLs", f)
			}
		case "dns":
			if f.ChainMDLs != 4 || f.DataOffset != 40 || f.NBLs != 1 {
				t.Errorf("dns frame %+v, want 4 MDLs at DataOffset 40", f)
			}
		case "echo-request", "arp-request":
			if f.ChainMDLs != 1 || f.DataOffset != 0 {
				t.Errorf("%s frame %+v, want 1 MDL at DataOffset 0", kind, f)
			}
		}
	}
	return counts
}

// classifyFrame names a frame the stack sent and says whether netclient's
// thread sends that kind.
func classifyFrame(b []byte) (string, bool) {
	if len(b) < 14 {
		return "short", false
	}
	switch {
	case b[12] == 0x08 && b[13] == 0x06 && len(b) >= 22:
		if b[21] == 1 {
			return "arp-request", true
		}
		return "arp-reply", false
	case b[12] != 0x08 || b[13] != 0x00 || len(b) < 34:
		return "other", false
	}
	ihl := int(b[14]&0xf) * 4
	l4 := b[14+ihl:]
	switch b[23] {
	case 1:
		if l4[0] == 8 {
			return "echo-request", true
		}
		return "echo-reply", false
	case 17:
		if l4[2] == 0 && l4[3] == 53 {
			return "dns", true
		}
		return "udp", true
	case 6:
		off := int(l4[12]>>4) * 4
		flags := l4[13]
		switch {
		case flags&0x02 != 0:
			return "tcp-syn", true
		case flags&0x01 != 0:
			return "tcp-fin", true
		case int(b[16])<<8|int(b[17]) > ihl+off: // the IPv4 total length
			return "tcp-data", true
		}
		return "tcp-ack", false
	}
	return "ipv4", false
}

// echoServer echoes every connection's bytes until its peer closes it.
func echoServer(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, bufio.NewReader(c))
		}()
	}
}
