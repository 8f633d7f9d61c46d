package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

func TestOpsFlagsRefused(t *testing.T) {
	for _, c := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--pprof"}, "give --metrics-listen too"},
		{[]string{"--metrics-listen", "0.0.0.0:9100"}, "loopback"},
		{[]string{"--metrics-listen", "192.0.2.1:9100"}, "loopback"},
		{[]string{"--metrics-listen", "nonsense"}, "want a loopback HOST:PORT"},
		{[]string{"--operators", "alice"}, "use --operator-group"},
	} {
		var out syncBuffer
		if rc := run(ctxT(t), append(baseArgs(t), c.extra...), &out, nil); rc != 2 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, output %q; want exit 2 and %q", c.extra, rc, out.String(), c.want)
		}
	}
	var out syncBuffer
	if rc := run(ctxT(t), append(baseArgs(t), "--socket-group", "no-such-group-h6"), &out, nil); rc == 0 || !strings.Contains(out.String(), "no-such-group-h6") {
		t.Errorf("an unknown --socket-group: exit %d, output %q", rc, out.String())
	}
}

// unixHTTP is an HTTP client over a unix socket.
func unixHTTP(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsListener: --metrics-listen on a unix path serves /metrics
// (0600, like the gRPC socket) counting the calls made; pprof only with
// --pprof.
func TestMetricsListener(t *testing.T) {
	msock := filepath.Join(t.TempDir(), "metrics.sock")
	d := startDaemon(t, append(baseArgs(t), "--metrics-listen", msock, "--pprof")...)
	cc := dialUnix(t, d.addr)
	pb.NewVMServiceClient(cc).GetVM(ctxT(t), &pb.GetVMRequest{Vm: "nope"})
	fi, err := os.Stat(msock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("metrics socket: %v %v, want mode 0600", fi, err)
	}
	hc := unixHTTP(msock)
	code, body := get(t, hc, "http://frostd/metrics")
	if code != 200 || !strings.Contains(body, `frost_rpcs_total{code=`) || !strings.Contains(body, `method="/frost.v1.VMService/GetVM"`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := get(t, hc, "http://frostd/debug/pprof/"); code != 200 {
		t.Errorf("pprof with --pprof: %d", code)
	}

	msock2 := filepath.Join(t.TempDir(), "metrics.sock")
	startDaemon(t, append(baseArgs(t), "--metrics-listen", msock2)...)
	if code, _ := get(t, unixHTTP(msock2), "http://frostd/debug/pprof/"); code != 404 {
		t.Errorf("pprof without --pprof: %d, want 404", code)
	}
}

// TestAuditLogFlag: --audit-log records a pause with the caller's uid.
func TestAuditLogFlag(t *testing.T) {
	log := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, append(baseArgs(t), "--audit-log", log)...)
	cc := dialUnix(t, d.addr)
	pb.NewCPUServiceClient(cc).Pause(ctxT(t), &pb.PauseRequest{Vm: "nope"})
	pb.NewVMServiceClient(cc).ListDomains(ctxT(t), &pb.ListDomainsRequest{}) // a read: not recorded
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 1 || lines[0]["action"] != "pause" || lines[0]["vm"] != "nope" {
		t.Fatalf("audit log: %v", lines)
	}
	if who := lines[0]["who"].(map[string]any); who["uid"] != float64(os.Getuid()) {
		t.Errorf("who: %v", who)
	}
}

// TestRolesByClientCertificate: on TCP a certificate not in --operators is
// a reader: its Pause is refused naming the role and the way to it, its
// reads are not; listed, the same certificate passes.
func TestRolesByClientCertificate(t *testing.T) {
	p := newPKI(t)
	creds := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.clientTL}})
	for _, c := range []struct {
		operators string
		denied    bool
	}{{"alice,bob", true}, {"alice,frostctl", false}} {
		d := startDaemon(t, tcpArgs(t, p, "--client-ca", filepath.Join(p.dir, "ca.pem"), "--operators", c.operators)...)
		cc := dialTLS(t, d.addr, creds)
		_, err := pb.NewCPUServiceClient(cc).Pause(ctxT(t), &pb.PauseRequest{Vm: "nope"})
		if got := status.Code(err) == codes.PermissionDenied; got != c.denied {
			t.Errorf("--operators %s: Pause %v", c.operators, err)
		}
		if c.denied {
			for _, want := range []string{"needs the operator role", "CN=frostctl", "--operators"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("denial %q lacks %q", err, want)
				}
			}
		}
		_, err = pb.NewVMServiceClient(cc).GetVM(ctxT(t), &pb.GetVMRequest{Vm: "nope"})
		if status.Code(err) == codes.PermissionDenied {
			t.Errorf("--operators %s: a read refused: %v", c.operators, err)
		}
	}
}

func dialTLS(t *testing.T, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestGroupableDir(t *testing.T) {
	if err := groupableDir(1000, defaultDir()); err == nil || !strings.Contains(err.Error(), "stays private") {
		t.Errorf("a non-root frostd's default directory: %v", err)
	}
	if err := groupableDir(1000, "/srv/frost"); err != nil {
		t.Errorf("a directory of its own: %v", err)
	}
	if err := groupableDir(0, defaultDir()); err != nil {
		t.Errorf("root's /run/frost: %v", err)
	}
}
