package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
)

var errHelp = errors.New("help requested")

type config struct {
	listen string // a unix socket path, or tcp:HOST:PORT

	tlsCert, tlsKey, clientCA string
	insecureAnyClient         bool

	libvirtURI  string
	symbolPath  string
	symbolCache string
	dataDir     string
	stateFile   string
	allowWrite  bool
	// guardSocket is the guard's socket ("" beside the state file);
	// noGuard runs without one.
	guardSocket string
	noGuard     bool
	// allowSoftware is the operator's consent to software breakpoints
	// under KVM, where each writes 0xCC into guest code that the guest
	// (and Windows' kernel patch protection) can read.
	allowSoftware bool

	logLevel, logFormat string

	// ops: metrics, pprof, audit log, socket group, roles (roles.go).
	ops opsConfig
}

// defaultDir is where frostd keeps its socket and state: /run/frost for
// root (the daemon's normal case), else a per-user runtime directory, so
// two users never share a socket.
func defaultDir() string {
	if os.Geteuid() == 0 {
		return "/run/frost"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "frost")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("frost-%d", os.Geteuid()))
}

// DefaultSocket is frostd's (and frostctl's) default unix socket.
func DefaultSocket() string { return filepath.Join(defaultDir(), "frostd.sock") }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("frostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", DefaultSocket(), "unix socket `path`, or tcp:HOST:PORT (needs --tls-cert, --tls-key and --client-ca)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "server certificate `file` (PEM), for TCP")
	fs.StringVar(&c.tlsKey, "tls-key", "", "server key `file` (PEM), for TCP")
	fs.StringVar(&c.clientCA, "client-ca", "", "CA `file` (PEM) that client certificates must chain to, for TCP")
	fs.BoolVar(&c.insecureAnyClient, "tcp-insecure-any-client", false, "serve TCP with server-only TLS: any client that can connect may drive the guests")
	fs.StringVar(&c.libvirtURI, "libvirt", libvirt.DefaultURI, "libvirt `URI`, or the path of libvirtd's socket")
	fs.StringVar(&c.symbolPath, "symbol-path", os.Getenv("_NT_SYMBOL_PATH"), "symbol `path` (_NT_SYMBOL_PATH syntax; default $_NT_SYMBOL_PATH)")
	fs.StringVar(&c.symbolCache, "symbol-cache", "/var/cache/frost/symbols", "`dir` that srv* entries without a cache download into")
	fs.StringVar(&c.dataDir, "data-dir", "/var/lib/frost/vms", "`dir` holding a directory per VM of its paging files and mapped files")
	fs.StringVar(&c.stateFile, "state-file", filepath.Join(defaultDir(), "state.json"), "`file` recording the VMs held, for crash recovery")
	fs.BoolVar(&c.allowWrite, "allow-write", false, "allow writes to guest memory and registers")
	fs.StringVar(&c.guardSocket, "guard-socket", "", "`path` of the guard's socket (default: guard.sock beside the state file); frostd starts a guard there if none answers")
	fs.BoolVar(&c.noGuard, "no-guard", false, "run without the guard: if frostd dies, its guests stay stopped until the next frostd starts")
	fs.BoolVar(&c.allowSoftware, "allow-software-breakpoints", false, "under KVM, allow software breakpoints once the 4 debug registers are taken (or when a client asks for one): each writes 0xCC into guest code, which the guest and Windows' kernel patch protection can see (TCG's are invisible and always allowed)")
	c.ops.register(fs)
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	// A mistyped level or format is refused, not quietly logged at info
	// or as text.
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	if !strings.EqualFold(c.logFormat, "text") && !strings.EqualFold(c.logFormat, "json") {
		return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	}
	return c, c.check()
}

// vmiOptions is how frostd opens a guest: with the operator's consent to
// visible software breakpoints, or without.
func (c *config) vmiOptions() vmi.Options {
	return vmi.Options{AllowVisibleBreakpoints: c.allowSoftware}
}

// check refuses configurations that would expose the guests: TCP without
// TLS, or without client certificates unless asked for in so many words.
func (c *config) check() error {
	network, _ := listenAddr(c.listen)
	if err := c.ops.check(network); err != nil {
		return err
	}
	tlsGiven := c.tlsCert != "" || c.tlsKey != "" || c.clientCA != ""
	if network == "unix" {
		if tlsGiven || c.insecureAnyClient {
			return errors.New("TLS flags apply to TCP only; the unix socket is protected by its mode (0600)")
		}
		return nil
	}
	if c.tlsCert == "" || c.tlsKey == "" {
		return errors.New("TCP needs TLS: give --tls-cert and --tls-key (and --client-ca for client certificates)")
	}
	if c.clientCA == "" && !c.insecureAnyClient {
		return errors.New("TCP needs --client-ca (mutual TLS); serving any client needs --tcp-insecure-any-client")
	}
	if c.clientCA != "" && c.insecureAnyClient {
		return errors.New("--client-ca and --tcp-insecure-any-client contradict each other")
	}
	return nil
}

// listenAddr splits --listen into net.Listen's network and address.
func listenAddr(s string) (network, addr string) {
	if rest, ok := strings.CutPrefix(s, "tcp:"); ok {
		return "tcp", strings.TrimPrefix(rest, "//")
	}
	return "unix", strings.TrimPrefix(s, "unix:")
}
