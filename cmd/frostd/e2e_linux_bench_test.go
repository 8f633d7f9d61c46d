package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	linuxguest "github.com/frostvmi/frost/integration/guest/linux"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// BenchmarkLinuxBreakpointStream is a raw-address breakpoint on the Debian
// guest's _raw_spin_lock (taken all the time, so the guest never makes the
// hits wait), streamed through the frostd binary over gRPC (Subscribe),
// beside a bare gdbstub loop on the same guest in the same run: the
// gdbstub frostd would use (HMP gdbserver on a unix socket, started by
// vmi/libvirt as frostd's attach does), hand-framed from one goroutine:
// per hit, `g` for the registers, then step over (z0 and s in one write;
// Z0 and c in the next). The two take turns in rounds, each attaching and
// detaching; attach, detach and the first hit of each turn are not timed.
// Metrics: each side's hits/s (frostd's counts the hits the stream
// dropped, which the guest took all the same), and frostd's share of the
// bare rate. ns/op is the whole run over b.N, attaches and detaches
// included: read the metrics instead.
//
//	go test -run '^$' -bench LinuxBreakpointStream -benchtime 1500x -timeout 30m ./cmd/frostd/
func BenchmarkLinuxBreakpointStream(b *testing.B) {
	requireLinuxE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	files := fetchLinuxGuest(ctx, b)
	conn := setupLibvirt(ctx, b)
	// At info level: frostd's debug log has a line per hit.
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), b.TempDir(), "frostd.log", "--log-level", "info")
	d := defineLinuxDomain(ctx, b, conn, files, linuxguest.Config{})
	if err := d.dom.Start(ctx, false); err != nil {
		b.Fatal(err)
	}
	rep := d.waitReport(b, "the first writer line", func(r *linuxguest.Report) bool { return r.Ready && len(r.Writes) > 0 })
	addr, err := rep.Symbol("_raw_spin_lock")
	if err != nil {
		b.Fatal(err)
	}
	cc := fd.cc

	const rounds = 3
	per := max(b.N/rounds, 1)
	var frostdTime, bareTime time.Duration
	var frostdHits, bareHits int
	b.ResetTimer()
	for range rounds {
		n, took := frostdStream(ctx, b, cc, d.name, addr, per)
		frostdHits, frostdTime = frostdHits+n, frostdTime+took
		n, took = bareStream(ctx, b, d.dom, addr, per)
		bareHits, bareTime = bareHits+n, bareTime+took
	}
	b.StopTimer()
	fr := float64(frostdHits) / frostdTime.Seconds()
	br := float64(bareHits) / bareTime.Seconds()
	b.ReportMetric(fr, "frostd-hits/s")
	b.ReportMetric(br, "bare-hits/s")
	b.ReportMetric(100*fr/br, "frostd-of-bare%")
	d.waitMoreWrites(b, len(d.report(b).Writes))
}

// frostdStream attaches the domain through frostd, subscribes to a
// breakpoint at addr, times n hits after the first, and detaches.
func frostdStream(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string, addr uint64, n int) (int, time.Duration) {
	b.Helper()
	vms := pb.NewVMServiceClient(cc)
	if _, err := vms.Attach(ctx, &pb.AttachRequest{Name: vm}); err != nil {
		b.Fatal(err)
	}
	defer func() {
		if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: vm}); err != nil {
			b.Fatal(err)
		}
	}()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stream, err := pb.NewBreakpointServiceClient(cc).Subscribe(sctx, &pb.SubscribeRequest{
		Vm: vm, Breakpoints: []*pb.BreakpointSpec{{Location: &pb.BreakpointSpec_Address{Address: addr}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	var start time.Time
	hits := -1 // the first hit starts the clock
	for hits < n {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatalf("frostd's stream after %d hits: %v", hits, err)
		}
		h := ev.GetHit()
		if h == nil {
			continue
		}
		if h.GetAddress() != addr {
			b.Fatalf("hit at %#x, want %#x", h.GetAddress(), addr)
		}
		if hits < 0 {
			start, hits = time.Now(), 0
			continue
		}
		hits += 1 + int(h.GetDropped())
	}
	took := time.Since(start)
	return hits, took
}

// bareStream starts the domain's gdbstub as frostd's attach does and
// runs the bare loop: n hits after the first, then the breakpoint removed
// and the stub detached (the guest runs on).
func bareStream(ctx context.Context, b *testing.B, dom *libvirt.Domain, addr uint64, n int) (int, time.Duration) {
	b.Helper()
	att, err := dom.Attach(ctx, libvirt.AttachOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close(ctx)
	c, err := net.Dial(att.Network, att.Address)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := &rspPeer{c: c, r: bufio.NewReader(c)}
	// A connection stops the guest, and the stub says so (T02).
	p.wantStop(b)
	bp := fmt.Sprintf("Z0,%x,1", addr)
	unbp := "z" + bp[1:]
	p.send(b, bp)
	p.want(b, "OK")
	p.send(b, "c")
	p.wantStop(b) // the first hit starts the clock
	start := time.Now()
	for range n {
		p.send(b, "g")
		if regs := p.recv(b); len(regs) < 2*8*17 {
			b.Fatalf("g: %q", regs)
		}
		p.send(b, unbp, "s")
		p.want(b, "OK")
		p.wantStop(b)
		p.send(b, bp, "c")
		p.want(b, "OK")
		p.wantStop(b)
	}
	took := time.Since(start)
	p.send(b, unbp)
	p.want(b, "OK")
	// D;1 detaches and resumes. (QEMU keeps the multiprocess mode frostd
	// negotiated across connections, and then refuses a plain D.)
	p.send(b, "D;1")
	p.want(b, "OK")
	return n, took
}

// rspPeer frames the remote serial protocol by hand: each packet of ours
// carries the ack of the stub's last one in the same write.
type rspPeer struct {
	c   net.Conn
	r   *bufio.Reader
	ack bool
	out []byte
}

func (p *rspPeer) send(b *testing.B, payloads ...string) {
	p.out = p.out[:0]
	if p.ack {
		p.out, p.ack = append(p.out, '+'), false
	}
	for _, s := range payloads {
		var sum byte
		for i := 0; i < len(s); i++ {
			sum += s[i]
		}
		p.out = fmt.Appendf(p.out, "$%s#%02x", s, sum)
	}
	p.c.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := p.c.Write(p.out); err != nil {
		b.Fatal(err)
	}
}

// recv returns the next packet's payload, skipping the stub's acks; its
// ack goes out with the next send.
func (p *rspPeer) recv(b *testing.B) string {
	p.c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			b.Fatal(err)
		}
		switch c {
		case '+':
			continue
		case '-':
			b.Fatal("the stub asked for a retransmission")
		case '$':
		default:
			b.Fatalf("unexpected byte %q from the stub", c)
		}
		body, err := p.r.ReadString('#')
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.r.Discard(2); err != nil { // the checksum
			b.Fatal(err)
		}
		p.ack = true
		return strings.TrimSuffix(body, "#")
	}
}

func (p *rspPeer) want(b *testing.B, reply string) {
	if got := p.recv(b); got != reply {
		b.Fatalf("stub replied %q, want %q", got, reply)
	}
}

func (p *rspPeer) wantStop(b *testing.B) {
	if got := p.recv(b); got == "" || (got[0] != 'T' && got[0] != 'S') {
		b.Fatalf("stub replied %q, want a stop", got)
	}
}
