package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostvmi/frost/integration/guest/minint"
	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// localDumpRounds is the rounds of the local-dump benchmark; each round
// runs every way once, alternating.
const localDumpRounds = 5

// TestCtlFollowupsOnLibvirt drives frostctl's newer commands against a
// real frostd and mini-NT under libvirt. A pause lapses when its lease is
// not renewed (frostd resumes the guest) and a lapsed lease cannot be
// renewed; pause --keep keeps the guest stopped past its lease and
// resumes it at the end of its input; break --kind arms the kind asked
// for (under TCG no breakpoint is visible to the guest). A dump copied by
// frostctl from the read-only mapping of guest RAM (--via local) is byte
// for byte the file frostd writes, as an ELF core and raw, at the same stop; and read
// --physical through the mapping prints what frostd's gRPC read prints.
// With -bench DumpLocal it also times the local dump against frostd's
// and dd of the RAM file (benchLocalDump).
func TestCtlFollowupsOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomainWith(ctx, t, conn, minint.Config{GuestDir: guestDir, WriterPeriodMS: 250, MemoryMB: dumpGuestMB})
	dir := t.TempDir()
	fd := bootedFrostd(ctx, t, bin, dir, guestDir, d)
	c := &ctl{bin: buildFrostctlBinary(t), sock: fd.sock, vm: d.name, home: t.TempDir()}
	cpu := pb.NewCPUServiceClient(fd.cc)

	vms := pb.NewVMServiceClient(fd.cc)
	running := func() bool {
		r, err := vms.GetVM(ctx, &pb.GetVMRequest{Vm: d.name})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetVm().GetRunning()
	}
	waitRunning := func(what string) {
		for deadline := time.Now().Add(60 * time.Second); !running(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the guest is still stopped", what)
			}
		}
	}

	t.Run("pause lease lapses", func(t *testing.T) {
		out := c.must(t, "pause", "--lease", "2s")
		id := leaseID(t, out)
		if running() {
			t.Fatalf("running after pause:\n%s", out)
		}
		if out := c.must(t, "pause", "--renew", id, "--lease", "2s"); !strings.Contains(out, "renewed lease "+id) {
			t.Errorf("renew:\n%s", out)
		}
		waitRunning("an unrenewed lease")
		if _, errOut, code := c.run(t, "pause", "--renew", id); code == 0 || !strings.Contains(errOut, "renewing lease "+id) {
			t.Errorf("renewing a lapsed lease: exit %d, %s", code, errOut)
		}
		if running := running(); !running {
			t.Errorf("a refused renewal stopped the guest")
		}
	})

	t.Run("pause --keep", func(t *testing.T) {
		cmd := c.command("pause", "--keep", "--lease", "1s")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out syncBuffer // written by exec's copy while the test reads it
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "renewing until"); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("pause --keep printed no lease:\n%s", out.String())
			}
		}
		// Three leases' time: only renewals keep it stopped so long.
		time.Sleep(3 * time.Second)
		if running() {
			t.Errorf("the guest ran while pause --keep renewed its lease:\n%s", out.String())
		}
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("pause --keep at end of input: %v\n%s", err, out.String())
		}
		if !running() || !strings.Contains(out.String(), d.name+" running") {
			t.Errorf("not resumed at end of input:\n%s", out.String())
		}
	})

	t.Run("break --kind", func(t *testing.T) {
		for _, kind := range []string{"software", "hardware"} {
			out := c.must(t, "break", "--persist", "--kind", kind, "nt!NtWriteFile")
			if !strings.Contains(out, "armed as "+kind) || strings.Contains(out, "visible to the guest") {
				t.Errorf("--kind %s under TCG:\n%s", kind, out)
			}
			list := c.must(t, "breakpoints")
			if !strings.Contains(list, "Visible") || !strings.Contains(list, kind+"  no") {
				t.Errorf("breakpoints after --kind %s:\n%s", kind, list)
			}
			id := strings.Fields(strings.Split(out, "\n")[1])[0]
			c.must(t, "clear", id)
		}
	})

	t.Run("local equals frostd's", func(t *testing.T) {
		// One stop for every file and read, so they show the same moment.
		if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: d.name}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: d.name}); err != nil {
				t.Error(err)
			}
		}()
		for _, format := range []string{"elf", "raw"} {
			local := filepath.Join(dir, "local."+format)
			byFrostd := filepath.Join(dir, "frostd."+format)
			c.must(t, "dump", "--format", format, "--via", "local", "-q", "-o", local)
			c.must(t, "dump", "--format", format, "--via", "frostd", "-q", "-o", byFrostd)
			a, err := os.ReadFile(local)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(byFrostd)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) < dumpGuestMB<<20-(1<<20) || !bytes.Equal(a, b) {
				t.Errorf("%s: the local file (%d bytes) and frostd's (%d bytes) differ", format, len(a), len(b))
			}
			os.Remove(local)
			os.Remove(byFrostd)
		}
		// The kernel's first pages and a range across the 640K hole.
		for _, r := range [][2]string{{"0x1000", "0x200"}, {"0x9f000", "0x2000"}} {
			local := c.must(t, "read", "--physical", r[0], r[1])
			remote := c.must(t, "read", "--no-local", "--physical", r[0], r[1])
			if local != remote {
				t.Errorf("read --physical %s %s: through the mapping\n%s\nover gRPC\n%s", r[0], r[1], local, remote)
			}
		}
		if !strings.Contains(fd.output(), "handed out guest RAM read-only") {
			t.Errorf("frostd logged no hand-out of guest RAM: the reads did not go through the mapping")
		}
	})

	if benchRequested("DumpLocal") {
		benchLocalDump(ctx, t, c, d, dir)
	}
}

// leaseID is the lease pause printed ("paused under lease ID: ...").
func leaseID(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "paused under lease ")
	id, _, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || id == "" {
		t.Fatalf("pause printed no lease:\n%s", out)
	}
	return id
}

// benchLocalDump times, alternating in every round, a consistent ELF
// dump written by frostctl from the mapping (--via local), the same
// written by frostd (--via frostd, what auto picks when it may), and dd of QEMU's RAM
// file; each time is the whole command, as a user runs it.
func benchLocalDump(ctx context.Context, t *testing.T, c *ctl, d *testDomain, dir string) {
	ramFile := qemuRAMFile(t, d.name)
	size := uint64(dumpGuestMB) << 20
	out := filepath.Join(dir, "bench.out")
	run := func(cmd *exec.Cmd) error {
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", cmd.Args, err, b)
		}
		return nil
	}
	ways := []struct {
		name string
		do   func() error
	}{
		{"frostctl dump --via local", func() error { return run(c.command("dump", "-q", "--via", "local", "-o", out)) }},
		{"frostctl dump --via frostd", func() error { return run(c.command("dump", "-q", "--via", "frostd", "-o", out)) }},
		{"dd of the RAM file", func() error {
			return run(exec.CommandContext(ctx, "dd", "if="+ramFile, "of="+out, "bs=1M", "status=none"))
		}},
	}
	times := make([][]time.Duration, len(ways))
	for round := range localDumpRounds {
		for i, w := range ways {
			os.Remove(out)
			start := time.Now()
			if err := w.do(); err != nil {
				t.Fatalf("round %d, %s: %v", round, w.name, err)
			}
			times[i] = append(times[i], time.Since(start))
			if fi, err := os.Stat(out); err != nil || fi.Size() < int64(size)-(1<<20) {
				t.Fatalf("round %d, %s: wrote %v (%v)", round, w.name, fi, err)
			}
			os.Remove(out)
		}
	}
	ratio := func(a, b int) (med, lo, hi float64) {
		var rs []float64
		for r := range localDumpRounds {
			rs = append(rs, times[b][r].Seconds()/times[a][r].Seconds())
		}
		slices.Sort(rs)
		return rs[len(rs)/2], rs[0], rs[len(rs)-1]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d MiB guest, %d rounds, medians:\n", dumpGuestMB, localDumpRounds)
	for i, w := range ways {
		ts := slices.Clone(times[i])
		slices.Sort(ts)
		med := ts[len(ts)/2]
		fmt.Fprintf(&b, "  %-52s %7.3f s  %6.0f MB/s  (rounds %v)\n", w.name, med.Seconds(), float64(size)/med.Seconds()/1e6, times[i])
	}
	m, lo, hi := ratio(0, 1)
	dm, dlo, dhi := ratio(0, 2)
	fmt.Fprintf(&b, "  local: %.2fx frostd writes (%.2f-%.2f), %.2f of dd (%.2f-%.2f)\n", m, lo, hi, dm, dlo, dhi)
	t.Log(b.String())
}
