package gdbstub

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
)

// Benchmarks against the real QEMU gdbstub and mini-NT (TCG); the guest
// boots outside the timer. Results and commands are in docs/benchmarks.md.

// hitMachine boots mini-NT with writer.exe in a tight NtWriteFile loop;
// the guest is still paused.
func hitMachine(b *testing.B) *minint.Machine {
	b.Helper()
	return boot(b, minint.Config{Seed: minint.Seed(testSeed), WriterPeriodMS: minint.WriterTightLoop})
}

// cycleTargets are where the breakpoint of BenchmarkBreakpointCycle goes:
//   - serial-out: the "out" to COM1 in KdWrite's loop, hit once per
//     character the guest prints, with a few instructions between hits,
//     so the protocol weighs most;
//   - NtWriteFile: writer.exe's system call, with disk I/O and a serial
//     line between hits, so the guest's own work weighs most.
var cycleTargets = []struct {
	name string
	rva  func(b *testing.B) uint64
}{
	{"serial-out", func(b *testing.B) uint64 { return firstInstruction(b, "KdWrite", "outb") }},
	{"NtWriteFile", func(b *testing.B) uint64 { return publicRVA(b, "NtWriteFile") }},
}

// BenchmarkBreakpointCycle is one breakpoint hit handled end to end:
// continue, the hit with its register snapshot (Hg, g), a handler that
// reads a register, and step-over (z0 and vCont;s in one write; at the
// step's stop Hg, g and Z0 in one write). "bare" sends the same packets
// with no client: hand-framed, in the same order and batching, read
// synchronously.
//
// The guest's own time between hits is part of every cycle and varies
// with its state (QEMU drops its translated code at each breakpoint
// insert and remove; now and then the writer's disk I/O falls between two
// hits), so client and bare take turns on the same guest, in blocks of
// cycleBlock, handing it over stopped with the breakpoint removed. Each
// cycle is timed on its own; handovers and the boot up to the first hit
// are not timed. Metrics: each side's mean and median time per cycle,
// and the client's rate as a share of the bare loop's, from the means
// (bare-rate%) and from the medians (bare-rate-median%), the latter being
// what the occasional long guest gaps do not sway. ns/op covers one
// client cycle plus one bare cycle.
func BenchmarkBreakpointCycle(b *testing.B) {
	for _, target := range cycleTargets {
		b.Run(target.name, func(b *testing.B) {
			fn := kernelBase(b, testSeed) + target.rva(b)
			m := hitMachine(b)
			// The first hit comes after the guest's boot: not a cycle.
			clientCycles(b, m, fn, 1)
			b.ResetTimer()
			var client, bare []time.Duration
			for done := 0; done < b.N; done += cycleBlock {
				n := min(cycleBlock, b.N-done)
				client = append(client, clientCycles(b, m, fn, n)...)
				bare = append(bare, bareCycles(b, m, fn, n)...)
			}
			cm, bm := mean(client), mean(bare)
			cmed, bmed := median(client), median(bare)
			b.ReportMetric(cm, "client-ns/cycle")
			b.ReportMetric(bm, "bare-ns/cycle")
			b.ReportMetric(cmed, "client-median-ns")
			b.ReportMetric(bmed, "bare-median-ns")
			b.ReportMetric(100*bm/cm, "bare-rate%")
			b.ReportMetric(100*bmed/cmed, "bare-rate-median%")
		})
	}
}

// cycleBlock is how many cycles one side runs before handing over.
const cycleBlock = 10

func mean(d []time.Duration) float64 {
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return float64(sum.Nanoseconds()) / float64(len(d))
}

func median(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds())
}

// clientCycles connects a client, runs n timed cycles, and hands the
// guest back stopped with no breakpoint.
func clientCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	c := dial(b, m)
	defer c.Close()
	cx := testCtx(b)
	if _, err := c.Attach(cx); err != nil {
		b.Fatal(err)
	}
	bp := Breakpoint{Kind: Software, Addr: fn}
	if err := c.InsertBreakpoint(cx, bp); err != nil {
		b.Fatal(err)
	}
	var sink uint64
	took := make([]time.Duration, 0, n)
	b.StartTimer()
	for range n {
		start := time.Now()
		if err := c.Continue(cx); err != nil {
			b.Fatal(err)
		}
		stop, err := c.Wait(cx)
		if err != nil {
			b.Fatal(err)
		}
		if rip, _ := stop.Registers.Uint("rip"); rip != fn || stop.Signal != SignalTrap {
			b.Fatalf("stop %v at %#x, want a hit at %#x", stop, rip, fn)
		}
		rcx, err := stop.Registers.Uint("rcx") // the handler
		if err != nil {
			b.Fatal(err)
		}
		sink += rcx
		if _, err := c.StepOver(cx, stop.Thread, bp); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	if err := c.RemoveBreakpoint(cx, bp); err != nil {
		b.Fatal(err)
	}
	_ = sink
	return took
}

// bareCycles is clientCycles by hand.
func bareCycles(b *testing.B, m *minint.Machine, fn uint64, n int) []time.Duration {
	b.StopTimer()
	network, addr := m.GDBAddr()
	conn, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	p := &barePeer{conn: conn, dec: newFrameReader(conn)}
	p.exchange(b, "qSupported:multiprocess+;qXfer:features:read+;vContSupported+")
	for off := 0; ; off += 0x7fd { // p/P and QEMU's register layout need target.xml
		if r := p.exchange(b, fmt.Sprintf("qXfer:features:read:target.xml:%x,7fd", off)); r[0] == 'l' {
			break
		}
	}
	p.exchange(b, "?")
	z := fmt.Sprintf("%x,1", fn)
	p.exchange(b, "Z0,"+z)
	p.exchange(b, "Qqemu.sstep=7")
	rcx := fnRegOffset(b, "rcx")
	took := make([]time.Duration, 0, n)
	b.StartTimer()
	for range n {
		start := time.Now()
		p.resume(b, "vCont;c")
		stop := p.packet(b) // the hit
		s, err := parseStop([]byte(stop))
		if err != nil || s.Signal != SignalTrap {
			b.Fatalf("stop %q: %v", stop, err)
		}
		th := s.Thread.String()
		regs := p.batch(b, "Hg"+th, "g")
		_ = regs[1][rcx : rcx+16] // the handler's register
		p.write(b, "z0,"+z, "vCont;s:"+th)
		if r := p.packet(b); r != "OK" {
			b.Fatalf("z0: %q", r)
		}
		p.packet(b) // the step's stop
		p.batch(b, "Hg"+th, "g", "Z0,"+z)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	if r := p.exchange(b, "z0,"+z); r != "OK" {
		b.Fatalf("z0: %q", r)
	}
	return took
}

// fnRegOffset is where a register's hex digits start in a "g" reply.
func fnRegOffset(b *testing.B, name string) int {
	info, ok := fakeMap.Lookup(name)
	if !ok {
		b.Fatalf("no %s", name)
	}
	return 2 * info.Offset
}

// barePeer is the baseline: the protocol by hand, one caller, no owner
// goroutine, acks sent with the next write.
type barePeer struct {
	conn net.Conn
	dec  *frameReader
	acks int
	out  []byte
}

func (p *barePeer) write(b *testing.B, payloads ...string) {
	p.out = p.out[:0]
	for range p.acks {
		p.out = append(p.out, '+')
	}
	p.acks = 0
	for _, s := range payloads {
		p.out = appendPacket(p.out, []byte(s))
	}
	if _, err := p.conn.Write(p.out); err != nil {
		b.Fatal(err)
	}
}

func (p *barePeer) packet(b *testing.B) string {
	for {
		f, err := p.dec.next()
		if err != nil {
			b.Fatal(err)
		}
		if f.kind == framePacket {
			if f.err != nil {
				b.Fatal(f.err)
			}
			p.acks++
			return string(f.data)
		}
	}
}

func (p *barePeer) exchange(b *testing.B, payload string) string {
	return p.batch(b, payload)[0]
}

// batch sends payloads in one write and reads a reply to each.
func (p *barePeer) batch(b *testing.B, payloads ...string) []string {
	p.write(b, payloads...)
	out := make([]string, len(payloads))
	for i := range out {
		out[i] = p.packet(b)
	}
	return out
}

// resume sends a resume, with the acks of earlier replies ahead of it in
// the same write; the stub's ack is skipped with the stop that follows.
func (p *barePeer) resume(b *testing.B, payload string) {
	p.write(b, payload)
}

// BenchmarkReadPhysical reads 1 MiB of guest-physical memory in "m"
// chunks of 2048 bytes, one request at a time and with 32 in flight,
// through the client and, as a baseline, by hand (bare-*: hand-framed
// packets, a sliding window, hex decoded into the same buffer).
func BenchmarkReadPhysical(b *testing.B) {
	const at, size = 0x100000, 1 << 20
	for _, window := range []int{1, 32} {
		name := "sequential"
		if window > 1 {
			name = fmt.Sprintf("pipelined-%d", window)
		}
		b.Run(name, func(b *testing.B) {
			m := boot(b, minint.Config{Seed: minint.Seed(testSeed)})
			caps, _ := CapabilitiesFor(AccelTCG, false)
			network, addr := m.GDBAddr()
			c, err := Dial(context.Background(), network, addr, Config{Capabilities: caps, Pipeline: window})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cx := testCtx(b)
			buf := make([]byte, size)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				if _, err := c.ReadPhysical(cx, at, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("bare-"+name, func(b *testing.B) {
			m := boot(b, minint.Config{Seed: minint.Seed(testSeed)})
			network, addr := m.GDBAddr()
			conn, err := net.Dial(network, addr)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			p := &barePeer{conn: conn, dec: newFrameReader(conn)}
			p.exchange(b, "qSupported:multiprocess+;qXfer:features:read+;vContSupported+")
			buf := make([]byte, size)
			b.SetBytes(size)
			b.ResetTimer()
			for range b.N {
				// The same packets the client sends: into physical mode,
				// the reads, and back.
				p.exchange(b, "Qqemu.PhyMemMode:1")
				sent, got := 0, 0
				for got < size/2048 {
					var reqs []string
					for sent < size/2048 && sent-got < window {
						reqs = append(reqs, fmt.Sprintf("m%x,800", at+sent*2048))
						sent++
					}
					if len(reqs) > 0 {
						p.write(b, reqs...)
					}
					reply := p.packet(b)
					if !decodeHex(buf[got*2048:(got+1)*2048], []byte(reply), nil) {
						b.Fatalf("reply %.20q", reply)
					}
					got++
				}
				p.exchange(b, "Qqemu.PhyMemMode:0")
			}
		})
	}
}
