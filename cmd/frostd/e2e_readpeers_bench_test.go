package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// readPeerSpan is where the random pages are: 1 MiB up to 64 MiB, RAM on
// mini-NT's default 128 MiB.
const readPeerLow, readPeerHigh = 1 << 20, 64 << 20

// BenchmarkReadPeers puts frostd's 4 KiB random ReadPhysical over gRPC
// beside Debian's gdb reading the same sizes from the domain's gdbstub in
// physical mode (Qqemu.PhyMemMode:1, then Python's
// Inferior.read_memory, timed by gdb itself), in alternating rounds on the
// same mini-NT guest. gdb stops the guest while it is connected; frostd
// reads the running guest's RAM file. Metrics: each side's mean latency
// and the median of the per-round ratios. ns/op is the whole run, the
// boot included: read the metrics.
//
//	go test -run '^$' -bench ReadPeers -benchtime 3000x -timeout 40m ./cmd/frostd/
func BenchmarkReadPeers(b *testing.B) {
	guestDir := requireE2E(b)
	gdbPath, err := exec.LookPath("gdb")
	if err != nil {
		unavailable(b, "gdb not found (scripts/deps.sh installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, b)
	d := defineDomainWith(ctx, b, conn, minint.Config{GuestDir: guestDir})
	fd := startFrostd(b, buildFrostd(b), b.TempDir(), guestDir, "frostd.log", "--log-level", "info")
	if st := bootWithWinboot(ctx, b, fd.cc, d); !st.GetSuccess() {
		b.Fatalf("boot: %v", st)
	}
	d.waitSerial(b, "ready", func(l string) bool { return strings.Contains(l, "frost-guest: ready") })
	vms := pb.NewVMServiceClient(fd.cc)
	mem := pb.NewMemoryServiceClient(fd.cc)

	const rounds = 3
	per := max(b.N/(2*rounds), 1)
	var frostdSum, gdbSum time.Duration
	var ratios []float64
	b.ResetTimer()
	for r := range rounds {
		rng := rand.New(rand.NewPCG(uint64(r), 1))
		start := time.Now()
		for range per {
			pa := readPeerLow + rng.Uint64N((readPeerHigh-readPeerLow)/4096)*4096
			resp, err := mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: d.name, Address: pa, Length: 4096})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.GetData()) != 4096 {
				b.Fatalf("ReadPhysical(%#x): %d bytes", pa, len(resp.GetData()))
			}
		}
		frostdLat := time.Since(start) / time.Duration(per)
		if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: d.name}); err != nil {
			b.Fatal(err)
		}
		gdbLat := gdbReads(ctx, b, gdbPath, d.dom, uint64(r), per)
		if _, err := vms.Attach(ctx, &pb.AttachRequest{Name: d.name}); err != nil {
			b.Fatal(err)
		}
		b.Logf("round %d (%d reads each): frostd %v, gdb %v per 4 KiB read", r, per, frostdLat, gdbLat)
		frostdSum, gdbSum = frostdSum+frostdLat, gdbSum+gdbLat
		ratios = append(ratios, float64(frostdLat)/float64(gdbLat))
	}
	b.StopTimer()
	b.ReportMetric(float64(frostdSum.Microseconds())/rounds, "frostd-µs/read")
	b.ReportMetric(float64(gdbSum.Microseconds())/rounds, "gdb-µs/read")
	b.ReportMetric(medianOf(ratios), "frostd/gdb-latency")
}

// gdbReadScript switches QEMU's stub to physical addresses, reads one
// page untimed (gdb's first read sets up its caches), then n random
// pages timed by gdb's own clock, and switches back before detaching.
const gdbReadScript = `set pagination off
set confirm off
set height 0
target remote %s
maintenance packet Qqemu.PhyMemMode:1
python
import random, time
inf = gdb.selected_inferior()
rng = random.Random(%d)
addrs = [%d + rng.randrange(%d) * 4096 for _ in range(%d)]
inf.read_memory(addrs[0], 4096)
t0 = time.monotonic()
for a in addrs:
    if len(inf.read_memory(a, 4096)) != 4096:
        raise gdb.GdbError("short read at %%#x" %% a)
print("frost-gdb-read %%.9f %%d" %% (time.monotonic() - t0, len(addrs)))
end
maintenance packet Qqemu.PhyMemMode:0
detach
`

// gdbReads runs Debian's gdb on the domain's gdbstub for n random 4 KiB
// physical reads and returns its mean latency.
func gdbReads(ctx context.Context, b *testing.B, gdbPath string, dom *libvirt.Domain, seed uint64, n int) time.Duration {
	b.Helper()
	att, err := dom.Attach(ctx, libvirt.AttachOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer att.Close(ctx)
	script := filepath.Join(b.TempDir(), "read.gdb")
	src := fmt.Sprintf(gdbReadScript, att.Address, seed, readPeerLow, (readPeerHigh-readPeerLow)/4096, n)
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
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
		if len(f) != 3 || f[0] != "frost-gdb-read" {
			continue
		}
		secs, err1 := strconv.ParseFloat(f[1], 64)
		reads, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || reads != n {
			b.Fatalf("gdb's result line %q (want %d reads)\n%s", line, n, out)
		}
		return time.Duration(secs * float64(time.Second) / float64(n))
	}
	b.Fatalf("gdb printed no result:\n%s", out)
	return 0
}
