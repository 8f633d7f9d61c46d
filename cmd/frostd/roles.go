package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/frostvmi/frost/api"
)

// opsConfig holds the operations flags of issue 19: metrics, pprof, the
// audit log, the socket's group and roles.
type opsConfig struct {
	metricsListen string
	pprof         bool
	auditLog      string
	socketGroup   string
	operatorGroup string
	operators     string
}

func (o *opsConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsListen, "metrics-listen", "", "serve Prometheus metrics on `ADDR`: a loopback HOST:PORT or a unix socket path. No authentication: off by default")
	fs.BoolVar(&o.pprof, "pprof", false, "also serve net/http/pprof under /debug/pprof/ on the metrics listener")
	fs.StringVar(&o.auditLog, "audit-log", "", "append the audit log (one JSON line per write, hold, pause, resume, attach, detach, boot, with who asked) to `PATH`, or \"stderr\"")
	fs.StringVar(&o.socketGroup, "socket-group", "", "make the unix socket 0660 and its directory 0750 for group `NAME`")
	fs.StringVar(&o.operatorGroup, "operator-group", "", "enforce roles on the unix socket: members of group `NAME` (and root, and frostd's own user) are operators, other users read-only")
	fs.StringVar(&o.operators, "operators", "", "enforce roles on TCP: client certificates whose CN (or whole subject) is in this comma-separated `list` are operators, others read-only")
}

// check refuses combinations that would not do what they say.
func (o *opsConfig) check(network string) error {
	if o.pprof && o.metricsListen == "" {
		return errors.New("--pprof is served on the metrics listener: give --metrics-listen too")
	}
	if o.metricsListen != "" {
		if err := checkMetricsAddr(o.metricsListen); err != nil {
			return err
		}
	}
	if network == "unix" && o.operators != "" {
		return errors.New("--operators names TCP client certificates; on the unix socket use --operator-group")
	}
	if network != "unix" && (o.operatorGroup != "" || o.socketGroup != "") {
		return errors.New("--operator-group and --socket-group apply to the unix socket; on TCP use --operators")
	}
	return nil
}

// checkMetricsAddr allows a unix path or a loopback address only: the
// endpoint has no authentication, and pprof on it can dump heap contents.
func checkMetricsAddr(a string) error {
	if isUnixPath(a) {
		return nil
	}
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("--metrics-listen %q: want a loopback HOST:PORT or a unix socket path: %w", a, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--metrics-listen %q: the metrics endpoint has no authentication, so it listens on loopback (127.0.0.1, ::1) or a unix socket only", a)
	}
	return nil
}

func isUnixPath(a string) bool {
	return strings.HasPrefix(a, "/") || strings.HasPrefix(a, "unix:")
}

// roles builds the role check, or nil when no role flag was given (then
// every client that can connect is an operator, as before).
func (o *opsConfig) roles() (*api.Roles, error) {
	if o.operatorGroup == "" && o.operators == "" {
		return nil, nil
	}
	r := &api.Roles{Self: uint32(os.Geteuid())}
	if o.operatorGroup != "" {
		g, err := lookupGroup("--operator-group", o.operatorGroup)
		if err != nil {
			return nil, err
		}
		r.OperatorGroup, r.OperatorGID = g.name, uint32(g.gid)
	}
	for _, op := range strings.Split(o.operators, ",") {
		if op = strings.TrimSpace(op); op != "" {
			r.Operators = append(r.Operators, op)
		}
	}
	return r, nil
}
