package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// BenchmarkBreakpointPeers puts frostd's breakpoint events beside what a
// user would pick instead, on the same mini-NT guest in the same run:
// writer.exe calls nt!NtWriteFile in a tight loop, and each round times,
// in turn,
//
//   - frostd: a Subscribe stream on nt!NtWriteFile filtered to writer.exe,
//     asking for the eight registers `frostctl break` prints, hits/s at
//     the client;
//   - frostd-hold: the same with hold, each hit acked by the client;
//   - gdb: Debian's gdb in batch mode on the domain's gdbstub (frostd
//     detached), `hbreak *ADDR` with `commands silent … continue end`,
//     timed by gdb itself from its first hit to its last;
//   - floor: the hand-framed RSP loop of BenchmarkLinuxBreakpointStream
//     (g, then z0+s, then Z0+c per hit) on the same stub.
//
// The first hit of each turn (arming, attaching) is not timed. gdb and
// the floor break on every caller of NtWriteFile, frostd only on writer's:
// on this guest writer is the only steady caller. Metrics are each
// side's hits/s over the whole run and the medians of the per-round
// ratios; the rounds are logged. frostd-cpu-ms/hit (and hold-cpu-ms/hit)
// is frostd's own CPU (utime+stime from /proc/<frostd>/stat) over its
// timed window divided by the hits: the process's whole CPU, every
// goroutine of it, at the kernel's 10 ms tick, so a turn needs a few
// hundred hits for it to mean much. ns/op is the whole run, the boot
// included: read the metrics.
//
// With FROST_BENCH_PERF=DIR set, `perf record -g` samples frostd during
// each plain turn into DIR/frostd-round<N>.data (perf report -i FILE).
// FROST_BENCH_PERF_STAT=1 counts, with `perf stat`, frostd's system
// calls (all, write, read, futex), context switches and CPU per hit over
// each plain turn (its arming and teardown included) and logs them: counts
// that, unlike rates, hardly move with the load of a shared machine.
// FROST_BENCH_FROSTD_GOMAXPROCS=N runs frostd (only) with GOMAXPROCS=N,
// to see what the Go scheduler's thread hand-offs cost per hit.
//
//	go test -run '^$' -bench BreakpointPeers -benchtime 2000x -timeout 40m ./cmd/frostd/
func BenchmarkBreakpointPeers(b *testing.B) {
	guestDir := requireE2E(b)
	gdbPath, err := exec.LookPath("gdb")
	if err != nil {
		unavailable(b, "gdb not found (scripts/deps.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, b)
	d := defineDomainWith(ctx, b, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: minint.WriterTightLoop})
	if n := os.Getenv("FROST_BENCH_FROSTD_GOMAXPROCS"); n != "" {
		// Inherited by frostd, started next; this process keeps its own.
		b.Setenv("GOMAXPROCS", n)
	}
	// At info level: frostd's debug log has a line per hit.
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), guestDir, "frostd.log", "--log-level", "info")
	if st := bootWithWinboot(ctx, b, fd.cc, d); !st.GetSuccess() {
		b.Fatalf("boot: %v", st)
	}
	d.waitSerial(b, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	writer := guestPIDs(b, d)["writer.exe"]
	vms := pb.NewVMServiceClient(fd.cc)

	const rounds = 5
	per := max(b.N/(4*rounds), 1)
	var total [4]float64 // hits/s summed over rounds: frostd, hold, gdb, floor
	var vsGDB, vsFloor, holdVsFloor, cpuPlain, cpuHold []float64
	pid := fd.cmd.Process.Pid
	perfDir := os.Getenv("FROST_BENCH_PERF")
	b.ResetTimer()
	for r := range rounds {
		var stopPerf func()
		if perfDir != "" {
			stopPerf = perfRecord(b, pid, filepath.Join(perfDir, fmt.Sprintf("frostd-round%d.data", r)))
		}
		var stopStat func() map[string]float64
		if os.Getenv("FROST_BENCH_PERF_STAT") != "" {
			stopStat = perfStat(b, pid)
		}
		n, took, addr, cpu := peerStream(ctx, b, fd.cc, d.name, writer, false, per, pid)
		if stopPerf != nil {
			stopPerf()
		}
		if stopStat != nil {
			c := stopStat()
			perHit := func(ev string) float64 { return c[ev] / float64(n+1) }
			b.Logf("round %d, frostd per hit: %.1f syscalls (%.1f write, %.1f read, %.1f futex), %.1f context switches, %.3f ms task-clock",
				r, perHit("raw_syscalls:sys_enter"), perHit("syscalls:sys_enter_write"), perHit("syscalls:sys_enter_read"),
				perHit("syscalls:sys_enter_futex"), perHit("context-switches"), perHit("task-clock"))
		}
		plain := float64(n) / took.Seconds()
		cpuPlain = append(cpuPlain, cpu.Seconds()*1e3/float64(n))
		n, took, _, cpu = peerStream(ctx, b, fd.cc, d.name, writer, true, per, pid)
		hold := float64(n) / took.Seconds()
		cpuHold = append(cpuHold, cpu.Seconds()*1e3/float64(n))
		if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
			b.Fatal(err)
		}
		n, took = gdbStream(ctx, b, gdbPath, d.dom, addr, per)
		gdbRate := float64(n) / took.Seconds()
		n, took = bareStream(ctx, b, d.dom, addr, per)
		floor := float64(n) / took.Seconds()
		if _, err := vms.Attach(ctx, &pb.AttachRequest{Name: d.name}); err != nil {
			b.Fatal(err)
		}
		b.Logf("round %d (%d hits each): frostd %.0f, frostd-hold %.0f, gdb %.0f, floor %.0f hits/s; frostd CPU per hit %.3f ms, held %.3f ms",
			r, per, plain, hold, gdbRate, floor, cpuPlain[r], cpuHold[r])
		for i, v := range []float64{plain, hold, gdbRate, floor} {
			total[i] += v
		}
		vsGDB = append(vsGDB, plain/gdbRate)
		vsFloor = append(vsFloor, plain/floor)
		holdVsFloor = append(holdVsFloor, hold/floor)
	}
	b.StopTimer()
	b.ReportMetric(total[0]/rounds, "frostd-hits/s")
	b.ReportMetric(total[1]/rounds, "hold-hits/s")
	b.ReportMetric(total[2]/rounds, "gdb-hits/s")
	b.ReportMetric(total[3]/rounds, "floor-hits/s")
	b.ReportMetric(medianOf(vsGDB), "frostd/gdb")
	b.ReportMetric(medianOf(vsFloor), "frostd/floor")
	b.ReportMetric(medianOf(holdVsFloor), "hold/floor")
	b.ReportMetric(medianOf(cpuPlain), "frostd-cpu-ms/hit")
	b.ReportMetric(medianOf(cpuHold), "hold-cpu-ms/hit")
	b.Logf("per round: frostd/gdb %.2f, frostd/floor %.2f, hold/floor %.2f", vsGDB, vsFloor, holdVsFloor)
}

// peerStream subscribes to nt!NtWriteFile in pid, acking each hit when
// hold is set, and times n hits after the first. It returns the hits, the
// time, the address frostd armed (what gdb and the floor break on), and
// the CPU process frostdPID used over the same window.
func peerStream(ctx context.Context, b *testing.B, cc *grpc.ClientConn, vm string, pid uint32, hold bool, n int, frostdPID int) (int, time.Duration, uint64, time.Duration) {
	b.Helper()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bps := pb.NewBreakpointServiceClient(cc)
	req := &pb.SubscribeRequest{Vm: vm, Breakpoints: []*pb.BreakpointSpec{{
		Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
		Filter:   &pb.BreakpointFilter{Pids: []uint32{pid}},
	}}, Registers: breakRegisters}
	if hold {
		req.Hold, req.HoldDeadline = true, durationpb.New(30*time.Second)
	}
	stream, err := bps.Subscribe(sctx, req)
	if err != nil {
		b.Fatal(err)
	}
	var start time.Time
	var cpu0 time.Duration
	var sub, addr uint64
	hits := -1 // the first hit starts the clock
	for hits < n {
		ev, err := stream.Recv()
		if err != nil {
			b.Fatalf("frostd's stream after %d hits: %v", hits, err)
		}
		if s := ev.GetSubscribed(); s != nil {
			sub = s.GetSubscriptionId()
			if len(s.GetBreakpoints()) != 1 {
				b.Fatalf("subscribed: %v", s)
			}
			addr = s.GetBreakpoints()[0].GetAddress()
			continue
		}
		h := ev.GetHit()
		if h == nil {
			continue
		}
		if h.GetAddress() != addr {
			b.Fatalf("hit at %#x, want %#x", h.GetAddress(), addr)
		}
		if hold {
			if !h.GetHeld() {
				b.Fatalf("hit %d not held", hits)
			}
			if _, err := bps.Ack(ctx, &pb.AckRequest{Vm: vm, SubscriptionId: sub, Sequence: h.GetSequence()}); err != nil {
				b.Fatal(err)
			}
		}
		if hits < 0 {
			cpu0 = procCPU(b, frostdPID)
			start, hits = time.Now(), 0
			continue
		}
		hits += 1 + int(h.GetDropped())
	}
	took := time.Since(start)
	cpu := procCPU(b, frostdPID) - cpu0
	cancel()
	waitNoBreakpointsB(ctx, b, cc, vm)
	return hits, took, addr, cpu
}

// breakRegisters are the registers `frostctl break` asks a hit for (the
// ones its line prints): the benchmark times what that command costs.
var breakRegisters = []string{"rax", "rcx", "rdx", "rsp", "r8", "r9", "rip", "cr3"}

// procCPU is the user+system CPU process pid has used, from
// /proc/<pid>/stat (fields 14 and 15, in USER_HZ ticks: 100 per second on
// Linux whatever the kernel's HZ).
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields from the last ')'.
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw[i+1:])) // f[0] is field 3, the state
	if i < 0 || len(f) < 13 {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	const userHZ = 100
	return time.Duration(utime+stime) * time.Second / userHZ
}

// perfStat counts frostd's events until the returned stop, which returns
// them by event name (task-clock in ms).
func perfStat(b *testing.B, pid int) (stop func() map[string]float64) {
	b.Helper()
	out := filepath.Join(b.TempDir(), "perf-stat.csv")
	cmd := exec.Command("perf", "stat", "-x", ",", "-o", out, "-e",
		"task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_futex",
		"-p", strconv.Itoa(pid))
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf stat: %v", err)
	}
	// perf needs a moment to attach; interrupted before, it counts nothing
	// and writes no file. (Outside the timed window: the first hit starts
	// the clock.)
	time.Sleep(300 * time.Millisecond)
	return func() map[string]float64 {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait() // ends by the signal
		raw, err := os.ReadFile(out)
		if err != nil {
			b.Logf("perf stat: %v", err)
			return nil
		}
		counts := map[string]float64{}
		for _, line := range strings.Split(string(raw), "\n") {
			f := strings.Split(line, ",")
			if len(f) < 3 {
				continue
			}
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				counts[f[2]] = v
			}
		}
		return counts
	}
}

// perfRecord samples process pid with `perf record -g` into file until
// the returned stop is called.
func perfRecord(b *testing.B, pid int, file string) (stop func()) {
	b.Helper()
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", file)
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf record: %v", err)
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			b.Logf("perf record: %v", err)
		}
	}
}

// gdbScript is the batch script: a hardware breakpoint whose commands
// count the hits and continue until n+1, gdb's own clock read at the first
// hit and after the last (a Python one-liner, so the fork of a shell is
// not timed), then the breakpoint deleted and the stub detached, which
// resumes the guest.
const gdbScript = `set pagination off
set confirm off
set height 0
target remote %s
python import time
hbreak *%#x
set $n = 0
commands
silent
set $n = $n + 1
if $n == 1
python t0 = time.monotonic()
end
if $n <= %d
continue
end
end
continue
python print("frost-gdb-took %%.9f hits %%d" %% (time.monotonic() - t0, int(gdb.parse_and_eval("$n"))))
delete
detach
`

// gdbStream starts the domain's gdbstub as frostd's attach does, runs
// Debian's gdb on it for n timed hits at addr, and stops the stub.
func gdbStream(ctx context.Context, b *testing.B, gdbPath string, dom *libvirt.Domain, addr uint64, n int) (int, time.Duration) {
	b.Helper()
	att, err := dom.Attach(ctx, libvirt.AttachOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close(ctx)
	target := att.Address // gdb takes a unix socket's path as is
	script := filepath.Join(b.TempDir(), "peer.gdb")
	if err := os.WriteFile(script, fmt.Appendf(nil, gdbScript, target, addr, n), 0o600); err != nil {
		b.Fatal(err)
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(gctx, gdbPath, "-nx", "-batch", "-x", script).CombinedOutput()
	if err != nil {
		b.Fatalf("gdb: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || f[0] != "frost-gdb-took" {
			continue
		}
		secs, err1 := strconv.ParseFloat(f[1], 64)
		hits, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || hits != n+1 {
			b.Fatalf("gdb's result line %q (want %d hits)\n%s", line, n+1, out)
		}
		return n, time.Duration(secs * float64(time.Second))
	}
	b.Fatalf("gdb printed no result:\n%s", out)
	return 0, 0
}

// medianOf returns the median of xs (the mean of the middle two for an
// even count).
func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkDumpHoldSteps times, one by one, the calls a consistent
// `frostctl dump` makes around its copy, on mini-NT running under
// libvirt (TCG), to show where the pause and resume of the guest go:
// Hold (the guest stopped: its first reply), GetRegisters of every vCPU
// with and without the system registers, GetPhysicalMap, and the
// release (CloseSend, then frostd's confirmation that the guest runs).
// Each step's median over the iterations is reported in ms.
//
//	go test -run '^$' -bench DumpHoldSteps -benchtime 30x -timeout 20m ./cmd/frostd/
func BenchmarkDumpHoldSteps(b *testing.B) {
	guestDir := requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, b)
	d := defineDomainWith(ctx, b, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: minint.WriterTightLoop})
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), guestDir, "frostd.log", "--log-level", "info")
	if st := bootWithWinboot(ctx, b, fd.cc, d); !st.GetSuccess() {
		b.Fatalf("boot: %v", st)
	}
	d.waitSerial(b, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	cpu := pb.NewCPUServiceClient(fd.cc)
	mem := pb.NewMemoryServiceClient(fd.cc)
	steps := []string{"hold", "registers+system", "registers", "physical-map", "release", "total"}
	took := make([][]float64, len(steps))
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		hctx, hcancel := context.WithCancel(ctx)
		stream, err := cpu.Hold(hctx)
		if err == nil {
			err = stream.Send(&pb.HoldRequest{Vm: d.name})
		}
		var first *pb.HoldResponse
		if err == nil {
			first, err = stream.Recv()
		}
		if err != nil || !first.GetWasRunning() {
			b.Fatalf("hold: %v (%v)", err, first)
		}
		t1 := time.Now()
		if _, err := cpu.GetRegisters(ctx, &pb.GetRegistersRequest{Vm: d.name, System: true}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := cpu.GetRegisters(ctx, &pb.GetRegistersRequest{Vm: d.name}); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := mem.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: d.name}); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if err := stream.CloseSend(); err != nil {
			b.Fatal(err)
		}
		last, err := stream.Recv()
		if err != nil || !last.GetReleased() {
			b.Fatalf("release: %v (%v)", err, last)
		}
		t5 := time.Now()
		hcancel()
		for i, v := range []float64{ms(t1.Sub(t0)), ms(t2.Sub(t1)), ms(t3.Sub(t2)), ms(t4.Sub(t3)), ms(t5.Sub(t4)), ms(t5.Sub(t0))} {
			took[i] = append(took[i], v)
		}
		// Let the guest run a little, as it would between two dumps.
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	for i, s := range steps {
		b.ReportMetric(medianOf(took[i]), s+"-ms")
	}
	b.Logf("ms by step (median, min-max): %s", func() string {
		var out []string
		for i, s := range steps {
			v := slices.Sorted(slices.Values(took[i]))
			out = append(out, fmt.Sprintf("%s %.2f (%.2f-%.2f)", s, medianOf(v), v[0], v[len(v)-1]))
		}
		return strings.Join(out, ", ")
	}())
}
