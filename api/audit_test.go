package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/frostvmi/frost/audit"
	pb "github.com/frostvmi/frost/proto/frost/v1"
	"github.com/frostvmi/frost/vmi"
)

// syncBuf is a bytes.Buffer safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) events(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// auditServer serves the API over a real unix socket with peer credentials
// (as frostd does) and the audit interceptors writing into buf.
func auditServer(t *testing.T, tg vmi.Target, buf *syncBuf) *grpc.ClientConn {
	t.Helper()
	c := testConfig(&Config{Log: slog.Default()})
	addVM(t, c, "g", tg)
	sock := filepath.Join(t.TempDir(), "s")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	a := &Auditor{Log: audit.New(buf), Warn: slog.Default()}
	au, as := a.Interceptors()
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(au), grpc.ChainStreamInterceptor(as))
	Register(srv, Config{Registry: c.Registry, Log: slog.Default()})
	go srv.Serve(PeerCredentials(lis))
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestAuditRecordsActionsAndWho: pause, resume, a hold (start, and its
// end with how long), a write (refused without --allow-write: recorded
// with its result), a register write, attach and detach each leave one
// line naming the caller by the kernel's uid and pid; reads leave none.
func TestAuditRecordsActionsAndWho(t *testing.T) {
	tg := &stoppable{running: true, next: &vmi.Stop{Seq: 1, Signal: 2}}
	var buf syncBuf
	cc := auditServer(t, tg, &buf)
	ctx := context.Background()
	cpu, mem, vms := pb.NewCPUServiceClient(cc), pb.NewMemoryServiceClient(cc), pb.NewVMServiceClient(cc)

	if _, err := cpu.Pause(ctx, &pb.PauseRequest{Vm: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cpu.Resume(ctx, &pb.ResumeRequest{Vm: "g"}); err != nil {
		t.Fatal(err)
	}
	hold, err := cpu.Hold(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hold.Send(&pb.HoldRequest{Vm: "g"})
	if _, err := hold.Recv(); err != nil {
		t.Fatal(err)
	}
	hold.CloseSend()
	if _, err := hold.Recv(); err != nil {
		t.Fatal(err)
	}
	hold.Recv() // the end of the stream: the handler has returned
	mem.WritePhysical(ctx, &pb.WritePhysicalRequest{Vm: "g", Address: 0x2000, Data: []byte{1, 2, 3}})
	cpu.SetRegisters(ctx, &pb.SetRegistersRequest{Vm: "g", Cpu: 1, Registers: []*pb.Register{{Name: "rax"}}})
	mem.GetPhysicalMap(ctx, &pb.GetPhysicalMapRequest{Vm: "g"}) // a read: not audited
	vms.Attach(ctx, &pb.AttachRequest{Name: "other"})
	if _, err := vms.Detach(ctx, &pb.DetachRequest{Vm: "g"}); err != nil {
		t.Fatal(err)
	}

	evs := buf.events(t)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e["action"].(string))
		who, _ := e["who"].(map[string]any)
		if who["uid"] != float64(os.Getuid()) || who["pid"] != float64(os.Getpid()) {
			t.Errorf("%s: who %v, want uid %d pid %d", e["action"], who, os.Getuid(), os.Getpid())
		}
	}
	want := []string{audit.Pause, audit.Resume, audit.HoldStart, audit.HoldEnd, audit.WriteMemory, audit.WriteRegisters, audit.Attach, audit.Detach}
	if len(actions) != len(want) {
		t.Fatalf("actions %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("actions %v, want %v", actions, want)
		}
	}
	byAction := map[string]map[string]any{}
	for _, e := range evs {
		byAction[e["action"].(string)] = e
	}
	if e := byAction[audit.HoldEnd]; e["vm"] != "g" || e["result"] != "OK" {
		t.Errorf("hold end: %v", e)
	} else if _, ok := e["held_seconds"].(float64); !ok {
		t.Errorf("hold end without its duration: %v", e)
	}
	if e := byAction[audit.WriteMemory]; e["address"] != float64(0x2000) || e["length"] != float64(3) || e["result"] == "OK" {
		t.Errorf("refused write: %v", e)
	}
	if e := byAction[audit.WriteRegisters]; e["cpu"] != float64(1) {
		t.Errorf("register write: %v", e)
	}
	if e := byAction[audit.Attach]; e["vm"] != "other" || e["result"] == "OK" || e["error"] == "" {
		t.Errorf("failed attach: %v", e)
	}
}

func TestHeldHitsDuration(t *testing.T) {
	var h heldHits
	base := mustTime(t, "2026-01-01T00:00:00Z")
	h.add("v", 1, 7, base, base.Add(2e9))
	if _, ok := h.take("v", 1, 8); ok {
		t.Error("took a hit never held")
	}
	got, ok := h.take("v", 1, 7)
	if !ok {
		t.Fatal("the held hit is gone")
	}
	// Acked after the deadline: frostd had let the guest go at it.
	if d, note := got.heldUntil(base.Add(5e9)); d != audit.Duration(2e9) || note == "" {
		t.Errorf("held %v %q, want 2s at the deadline", d, note)
	}
	if d, note := got.heldUntil(base.Add(1e9)); d != audit.Duration(1e9) || note != "" {
		t.Errorf("held %v %q, want 1s", d, note)
	}
	h.add("v", 1, 9, base, base.Add(1e9))
	h.add("v", 2, 9, base, base.Add(1e9))
	if left := h.drop("v", 1); len(left) != 1 || left[0].seq != 9 {
		t.Errorf("drop: %v", left)
	}
	if _, ok := h.take("v", 2, 9); !ok {
		t.Error("drop took another subscription's hit")
	}
}

func mustTime(t *testing.T, s string) (tm time.Time) {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
