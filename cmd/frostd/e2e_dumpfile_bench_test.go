package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dumpRounds is how many times each way of dumping runs, alternating.
const dumpRounds = 7

// benchFullDump times a whole-RAM dump of the running guest, each way
// once per round, in turn, every output to the same file system (the
// test's temporary directory) and removed after it is timed:
//
//   - frostctl dump (ELF, paused) with frostd writing the file from the
//     RAM mapping, and the same with --via stream (gRPC);
//   - the same two for --format raw;
//   - virsh dump --memory-only (libvirt's ELF core; pauses the guest);
//   - dd of QEMU's RAM file (bs=1M), the copy floor;
//   - HMP pmemsave of [0, RAM size) through virsh, QEMU's raw copy;
//   - frostctl dump --live with frostd writing: no pause, no registers,
//     which shows what the consistent dump's pause and resume cost;
//   - frostctl state: a process start, a connection and one call, the
//     fixed cost every frostctl command pays.
//
// Each time is the whole command, process start to exit, as a user sees it.
func benchFullDump(ctx context.Context, t *testing.T, fd *frostdProc, c *ctl, d *testDomain, dir string) {
	ramFile := qemuRAMFile(t, d.name)
	size := uint64(dumpGuestMB) << 20
	out := filepath.Join(dir, "bench.out")
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		if name == c.bin {
			cmd = c.command(args...)
		}
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %v\n%s", filepath.Base(name), args, err, b)
		}
		if _, serr := os.Stat(out); serr != nil && !slices.Contains(args, "state") {
			// HMP answers errors as text, and virsh exits 0.
			return fmt.Errorf("%s %v wrote no file: %s", filepath.Base(name), args, b)
		}
		return nil
	}
	virsh := func(args ...string) error { return run("virsh", append([]string{"-c", "qemu:///system"}, args...)...) }
	ways := []struct {
		name string
		do   func() error
	}{
		{"frostctl dump (frostd writes)", func() error { return run(c.bin, "dump", "-q", "--via", "frostd", "-o", out) }},
		{"frostctl dump --via stream", func() error { return run(c.bin, "dump", "-q", "--via", "stream", "-o", out) }},
		{"virsh dump --memory-only", func() error { return virsh("dump", "--memory-only", d.name, out) }},
		{"dd of the RAM file", func() error { return run("dd", "if="+ramFile, "of="+out, "bs=1M", "status=none") }},
		{"frostctl dump --format raw (frostd writes)", func() error {
			return run(c.bin, "dump", "-q", "--format", "raw", "--via", "frostd", "-o", out)
		}},
		{"frostctl dump --format raw --via stream", func() error {
			return run(c.bin, "dump", "-q", "--format", "raw", "--via", "stream", "-o", out)
		}},
		{"HMP pmemsave", func() error {
			return virsh("qemu-monitor-command", "--hmp", d.name, fmt.Sprintf("pmemsave 0 %d \"%s\"", size, out))
		}},
		{"frostctl dump --live (frostd writes)", func() error { return run(c.bin, "dump", "-q", "--live", "--via", "frostd", "-o", out) }},
		{"frostctl state (start, connect, one call)", func() error { return run(c.bin, "state") }},
	}
	logStart := len(fd.output())
	times := make([][]time.Duration, len(ways))
	for round := range dumpRounds {
		for i, w := range ways {
			os.Remove(out)
			start := time.Now()
			if err := w.do(); err != nil {
				t.Fatalf("round %d, %s: %v", round, w.name, err)
			}
			times[i] = append(times[i], time.Since(start))
			if fi, err := os.Stat(out); w.name != ways[len(ways)-1].name && (err != nil || fi.Size() < int64(size)-(1<<20)) {
				t.Fatalf("round %d, %s: wrote %v (%v)", round, w.name, fi, err)
			}
			os.Remove(out)
		}
	}
	// Per-round ratios against the baselines, then their medians, so a
	// slow moment of the machine hits both sides of a ratio.
	ratio := func(a, b int) (med, lo, hi float64) {
		var rs []float64
		for r := range dumpRounds {
			rs = append(rs, times[b][r].Seconds()/times[a][r].Seconds())
		}
		slices.Sort(rs)
		return rs[len(rs)/2], rs[0], rs[len(rs)-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d MiB guest, %d rounds, medians:\n", dumpGuestMB, dumpRounds)
	for i, w := range ways {
		ts := slices.Clone(times[i])
		slices.Sort(ts)
		med := ts[len(ts)/2]
		fmt.Fprintf(&b, "  %-44s %7.3f s  %6.0f MB/s  (rounds %v)\n", w.name, med.Seconds(), float64(size)/med.Seconds()/1e6, times[i])
	}
	for _, p := range [][3]int{{0, 2, 3}, {1, 2, 3}, {4, 6, 3}, {5, 6, 3}, {7, 2, 3}} {
		m, lo, hi := ratio(p[0], p[1])
		dm, dlo, dhi := ratio(p[0], p[2])
		fmt.Fprintf(&b, "  %s: %.2fx %s (%.2f-%.2f), %.2f of dd (%.2f-%.2f)\n", ways[p[0]].name, m, ways[p[1]].name, lo, hi, dm, dlo, dhi)
	}
	b.WriteString(rpcTimes(fd.output()[logStart:]))
	t.Log(b.String())
}

var rpcLine = regexp.MustCompile(`msg=rpc method=\S*/(\S+) code=(\S+) duration=(\S+)`)

// rpcTimes is where frostd's time went during the benchmark: each method's
// calls (from its per-call log lines) and their median duration.
func rpcTimes(log string) string {
	byMethod := map[string][]time.Duration{}
	for _, m := range rpcLine.FindAllStringSubmatch(log, -1) {
		if d, err := time.ParseDuration(m[3]); err == nil {
			byMethod[m[1]] = append(byMethod[m[1]], d)
		}
	}
	var b strings.Builder
	b.WriteString("  frostd's calls (all ways and rounds), median duration:\n")
	for _, name := range slices.Sorted(maps.Keys(byMethod)) {
		ds := byMethod[name]
		slices.Sort(ds)
		fmt.Fprintf(&b, "    %-22s %3d calls  %v\n", name, len(ds), ds[len(ds)/2])
	}
	return b.String()
}

// qemuRAMFile is QEMU's guest-RAM file for the domain (libvirt's shared
// file backing under memory_backing_dir), as /proc/<pid>/fd/<n>, which
// reads it even if it was unlinked.
func qemuRAMFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("/run/libvirt/qemu/" + name + ".pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(fdDir, e.Name())
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, "/dev/shm/libvirt-ram/") {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Size() == int64(dumpGuestMB)<<20 {
			t.Logf("QEMU's RAM file: %s -> %s", p, target)
			return p
		}
	}
	t.Fatalf("no %d MiB file of QEMU (pid %d) under /dev/shm/libvirt-ram", dumpGuestMB, pid)
	return ""
}
