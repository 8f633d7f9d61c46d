package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/breakpoints"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi/vmitest"
)

func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

// TestRPCsCountedByMethodAndCode: the interceptor's counts appear in the
// scrape, beside the Go collector's goroutines.
func TestRPCsCountedByMethodAndCode(t *testing.T) {
	m := New(nil)
	unary, _ := m.Interceptors()
	info := &grpc.UnaryServerInfo{FullMethod: "/frost.v1.CPUService/Pause"}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	denied := func(context.Context, any) (any, error) { return nil, status.Error(codes.PermissionDenied, "no") }
	unary(context.Background(), nil, info, ok)
	unary(context.Background(), nil, info, ok)
	unary(context.Background(), nil, info, denied)
	code, body := scrape(t, m.Handler(false), "/metrics")
	if code != 200 {
		t.Fatalf("scrape: %d", code)
	}
	for _, want := range []string{
		`frost_rpcs_total{code="OK",method="/frost.v1.CPUService/Pause"} 2`,
		`frost_rpcs_total{code="PermissionDenied",method="/frost.v1.CPUService/Pause"} 1`,
		`frost_rpc_duration_seconds_count{method="/frost.v1.CPUService/Pause"} 3`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// TestPprofOnlyWhenAsked: /debug/pprof/ is served only with withPprof.
func TestPprofOnlyWhenAsked(t *testing.T) {
	m := New(nil)
	if code, _ := scrape(t, m.Handler(false), "/debug/pprof/"); code != 404 {
		t.Errorf("pprof off: %d, want 404", code)
	}
	if code, body := scrape(t, m.Handler(true), "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("pprof on: %d", code)
	}
}

// TestVMMetricsFollowTheSession: run state, a breakpoint's hits and a
// subscriber appear per VM and move with the session.
func TestVMMetricsFollowTheSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := vmitest.New(vmitest.Config{Running: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := session.New(&session.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, "win", "", tg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	reg := session.NewRegistry(nil, nil)
	if err := reg.Add(s); err != nil {
		t.Fatal(err)
	}
	m := New(reg)
	_, body := scrape(t, m.Handler(false), "/metrics")
	for _, want := range []string{`frost_vm_running{vm="win"} 1`, "frost_vms_attached 1",
		`frost_vm_breakpoint_hits_total{vm="win"} 0`, `frost_hold_seconds_count{vm="win"} 0`, `frost_hold_seconds_bucket{vm="win",le="0.001"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, grepFrost(body))
		}
	}
	a, err := s.Arm(ctx, breakpoints.Spec{Addr: 0xfffff80000001000}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.CountHit([]breakpoints.ID{a.ID})
	s.CountHit([]breakpoints.ID{a.ID})
	sub := s.NewSubscription()
	defer sub.Close()
	sub.Start(breakpoints.SubscribeOptions{})
	if _, err := s.Manager().Pause(ctx); err != nil {
		t.Fatal(err)
	}
	_, body = scrape(t, m.Handler(false), "/metrics")
	for _, want := range []string{
		`frost_vm_running{vm="win"} 0`,
		`frost_breakpoint_hits_total{breakpoint="` + itoa(uint64(a.ID)) + `",vm="win"} 2`,
		`frost_subscriber_events_dropped_total{subscription="` + itoa(sub.ID) + `",vm="win"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, grepFrost(body))
		}
	}
}

func grepFrost(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "frost_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBootsWithoutBoots: a Booter that ran nothing adds no series.
func TestBootsWithoutBoots(t *testing.T) {
	m := New(nil)
	m.WatchBoots(&session.Booter{})
	if _, body := scrape(t, m.Handler(false), "/metrics"); strings.Contains(body, "frost_boot_phase_seconds{") {
		t.Errorf("phases of no boot:\n%s", grepFrost(body))
	}
}
