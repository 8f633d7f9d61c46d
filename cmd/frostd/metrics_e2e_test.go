package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// TestMetricsAndAuditOnLibvirt: a real frostd with --metrics-listen and
// --audit-log, mini-NT under TCG. The scrape moves as the guest is used
// (a held breakpoint stream's hits grow between two scrapes, the RPC
// counters count the Acks), and the audit log holds the boot, each held
// hit with how long it held the guest, a Hold with its duration, and a
// write to guest memory, all with the caller's uid and pid.
func TestMetricsAndAuditOnLibvirt(t *testing.T) {
	guestDir := requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	conn := setupLibvirt(ctx, t)
	bin := buildFrostd(t)
	d := defineDomain(ctx, t, conn, guestDir)
	dir := t.TempDir()
	msock, alog := filepath.Join(dir, "metrics.sock"), filepath.Join(dir, "audit.log")
	fd := startFrostd(t, bin, dir, guestDir, "frostd.log", "--metrics-listen", msock, "--audit-log", alog, "--allow-write")
	defer func() {
		if t.Failed() {
			t.Logf("frostd log:\n%s", fd.output())
		}
	}()
	checkBootStatus(t, d, bootWithWinboot(ctx, t, fd.cc, d))
	vm := d.name
	hc := unixHTTP(msock)
	scrapeValue := func(re *regexp.Regexp) (float64, bool) {
		_, body := get(t, hc, "http://frostd/metrics")
		m := re.FindStringSubmatch(body)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(m[1], 64)
		return v, err == nil
	}
	if v, ok := scrapeValue(regexp.MustCompile(`(?m)^frost_vm_running\{vm="` + regexp.QuoteMeta(vm) + `"\} (\S+)$`)); !ok || v != 1 {
		t.Errorf("frost_vm_running after boot: %v %v, want 1", v, ok)
	}

	_, body := get(t, hc, "http://frostd/metrics")
	phases := regexp.MustCompile(`(?m)^frost_boot_phase_seconds\{stage="([^"]+)",vm="`+regexp.QuoteMeta(vm)+`"\} (\S+)$`).FindAllStringSubmatch(body, -1)
	stages := map[string]bool{}
	for _, p := range phases {
		stages[p[1]] = true
	}
	if !stages["accepted"] || !stages["attached"] || len(stages) < 4 {
		t.Errorf("boot phases in the scrape: %v", phases)
	}

	// A held stream: hits grow between scrapes while it is open.
	bp := pb.NewBreakpointServiceClient(fd.cc)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	stream, err := bp.Subscribe(sctx, &pb.SubscribeRequest{
		Vm: vm, Hold: true, HoldDeadline: durationpb.New(10 * time.Second),
		Breakpoints: []*pb.BreakpointSpec{{
			Location: &pb.BreakpointSpec_Symbol{Symbol: "nt!NtWriteFile"},
			Filter:   &pb.BreakpointFilter{ProcessNames: []string{"writer.exe"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	sub := first.GetSubscribed()
	bpID := sub.GetBreakpoints()[0].GetId()
	hitsRE := regexp.MustCompile(fmt.Sprintf(`(?m)^frost_breakpoint_hits_total\{breakpoint="%d",vm="%s"\} (\S+)$`, bpID, regexp.QuoteMeta(vm)))
	var seen []float64
	var ntAddr uint64 // where the hits stopped: nt!NtWriteFile, a kernel VA in RAM
	for i := 0; i < 3; i++ {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		hit := ev.GetHit()
		if hit == nil || !hit.GetHeld() {
			t.Fatalf("event %d: %v", i, ev)
		}
		ntAddr = hit.GetAddress()
		if _, err := bp.Ack(ctx, &pb.AckRequest{Vm: vm, SubscriptionId: sub.GetSubscriptionId(), Sequence: hit.GetSequence()}); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		v, ok := scrapeValue(hitsRE)
		if !ok {
			t.Fatalf("no frost_breakpoint_hits_total for breakpoint %d in the scrape", bpID)
		}
		seen = append(seen, v)
	}
	if seen[2] <= seen[0] || seen[0] < 1 {
		t.Errorf("breakpoint hits across three acked hits: %v, want growing from at least 1", seen)
	}
	vmRE := regexp.QuoteMeta(vm)
	if v, _ := scrapeValue(regexp.MustCompile(`(?m)^frost_hold_seconds_count\{vm="` + vmRE + `"\} (\S+)$`)); v < 3 {
		t.Errorf("frost_hold_seconds_count after three held hits: %v, want at least 3", v)
	}
	if v, _ := scrapeValue(regexp.MustCompile(`(?m)^frost_vm_breakpoint_hits_total\{vm="` + vmRE + `"\} (\S+)$`)); v < 3 {
		t.Errorf("frost_vm_breakpoint_hits_total: %v, want at least 3", v)
	}
	if v, _ := scrapeValue(regexp.MustCompile(`(?m)^frost_gdbstub_round_trip_seconds_count\{vm="` + vmRE + `"\} (\S+)$`)); v < 1 {
		t.Errorf("frost_gdbstub_round_trip_seconds_count after three hits: %v", v)
	}
	acks, _ := scrapeValue(regexp.MustCompile(`(?m)^frost_rpcs_total\{code="OK",method="/frost.v1.BreakpointService/Ack"\} (\S+)$`))
	if acks < 3 {
		t.Errorf("frost_rpcs_total for Ack: %v, want at least 3", acks)
	}
	stop()
	waitNoBreakpoints(ctx, t, fd.cc, vm)

	// A hold, and a write of the bytes already there (the guest is left
	// as it was).
	cpu := pb.NewCPUServiceClient(fd.cc)
	hold, err := cpu.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hold.Send(&pb.HoldRequest{Vm: vm})
	if _, err := hold.Recv(); err != nil {
		t.Fatal(err)
	}
	mem := pb.NewMemoryServiceClient(fd.cc)
	checkTranslateMetrics(ctx, t, mem, vm, ntAddr, func() string { _, body := get(t, hc, "http://frostd/metrics"); return body })
	const gpa = 0x100000
	rd, err := mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: vm, Address: gpa, Length: 8})
	if err != nil {
		t.Fatal(err)
	}
	readRE := regexp.MustCompile(`(?m)^frost_physical_read_bytes_total\{backend="[^"]+",vm="` + vmRE + `"\} (\S+)$`)
	before, ok := scrapeValue(readRE)
	if !ok {
		t.Error("no frost_physical_read_bytes_total in the scrape")
	}
	if _, err := mem.ReadPhysical(ctx, &pb.ReadPhysicalRequest{Vm: vm, Address: gpa, Length: 4096}); err != nil {
		t.Fatal(err)
	}
	if after, _ := scrapeValue(readRE); after < before+4096 {
		t.Errorf("frost_physical_read_bytes_total: %v before a 4 KiB read, %v after", before, after)
	}
	if _, err := mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: vm, Address: gpa, Data: rd.GetData()}); err != nil {
		t.Errorf("WritePhysical: %v", err)
	}
	hold.CloseSend()
	for {
		if _, err := hold.Recv(); err != nil {
			break
		}
	}

	// The audit log, read once frostd has recorded the hold's end.
	var got map[string]int
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = auditCounts(t, alog)
		if got["hold_end"] >= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for action, min := range map[string]int{"boot_start": 1, "boot_end": 1, "hit_held": 3, "hit_released": 3, "hold_start": 1, "hold_end": 1, "write_memory": 1} {
		if got[action] < min {
			t.Errorf("audit log: %d %s, want at least %d (all: %v)", got[action], action, min, got)
		}
	}
}

// auditCounts reads the audit log, checks every line names the test as
// the caller, and counts the actions; held hits and holds must say how
// long they held the guest, and the write must have succeeded.
func auditCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct {
			Action string   `json:"action"`
			Result string   `json:"result"`
			Held   *float64 `json:"held_seconds"`
			Who    struct {
				UID *uint32 `json:"uid"`
				PID *int32  `json:"pid"`
			} `json:"who"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if e.Who.UID == nil || int(*e.Who.UID) != os.Getuid() || e.Who.PID == nil || int(*e.Who.PID) != os.Getpid() {
			t.Errorf("audit line names another caller: %s", sc.Text())
		}
		switch e.Action {
		case "hit_released", "hold_end", "boot_end":
			if e.Held == nil {
				t.Errorf("%s without how long: %s", e.Action, sc.Text())
			}
		case "write_memory":
			if e.Result != "OK" {
				t.Errorf("write: %s", sc.Text())
			}
		}
		n[e.Action]++
	}
	return n
}

// checkTranslateMetrics reads a kernel page twice while the guest is held
// (stopped, so the TLB serves): TLB lookups, at least one of them a hit,
// and pages served grow in the scrape.
func checkTranslateMetrics(ctx context.Context, t *testing.T, mem pb.MemoryServiceClient, vm string, va uint64, scrape func() string) {
	t.Helper()
	sum := func(body, name, label string) float64 {
		re := regexp.MustCompile(`(?m)^` + name + `\{` + label + `vm="` + regexp.QuoteMeta(vm) + `"\} (\S+)$`)
		var n float64
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			n += v
		}
		return n
	}
	before := scrape()
	for range 2 {
		rd, err := mem.ReadVirtual(ctx, &pb.ReadVirtualRequest{Vm: vm, Space: &pb.AddressSpace{Space: &pb.AddressSpace_Kernel{Kernel: true}}, Address: va, Length: 64})
		if err != nil || len(rd.GetPages()) != 1 || !rd.GetPages()[0].GetServed() {
			t.Fatalf("ReadVirtual of nt!NtWriteFile at %#x: %v, %v", va, rd.GetPages(), err)
		}
	}
	after := scrape()
	t.Logf("translate counters after two reads of %#x: %s", va, grepTranslate(after, vm))
	lookups := `frost_translate_tlb_lookups_total`
	if d := sum(after, lookups, `result="[a-z]+",`) - sum(before, lookups, `result="[a-z]+",`); d < 2 {
		t.Errorf("%s grew by %v over two reads, want at least 2", lookups, d)
	}
	if d := sum(after, lookups, `result="hit",`) - sum(before, lookups, `result="hit",`); d < 1 {
		t.Errorf("%s{result=\"hit\"} grew by %v over two reads of one page of a held guest, want at least 1", lookups, d)
	}
	pages := `frost_translate_pages_total`
	if d := sum(after, pages, `state="[a-z0-9_]+",`) - sum(before, pages, `state="[a-z0-9_]+",`); d < 2 {
		t.Errorf("%s grew by %v over two reads, want at least 2", pages, d)
	}
}

// grepTranslate is the VM's nonzero translate series, for the log.
func grepTranslate(body, vm string) string {
	re := regexp.MustCompile(`(?m)^frost_translate_\S+\{[^}]*vm="` + regexp.QuoteMeta(vm) + `"\} [1-9]\S*$`)
	return strings.Join(re.FindAllString(body, -1), "; ")
}
