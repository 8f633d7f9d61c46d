package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/frostvmi/frost/client"
)

// connFlags say how to reach frostd.
type connFlags struct {
	addr          string
	cert, key, ca string
	serverName    string
	// noLocal: read guest memory over gRPC even on frostd's host.
	noLocal bool
}

// defaultSocket mirrors frostd's default: /run/frost for root, else the
// user's runtime directory.
func defaultSocket() string {
	if os.Geteuid() == 0 {
		return "/run/frost/frostd.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "frost", "frostd.sock")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("frost-%d", os.Geteuid()), "frostd.sock")
}

func (f *connFlags) register(fs *pflag.FlagSet) {
	def := os.Getenv("FROSTD")
	if def == "" {
		def = defaultSocket()
	}
	fs.StringVar(&f.addr, "addr", def, "frostd's unix socket `path`, or tcp:HOST:PORT ($FROSTD, else frostd's default)")
	// --socket is what frostd calls the same path; either spelling works.
	fs.StringVar(&f.addr, "socket", def, "the same as --addr (frostd's unix socket `path`)")
	fs.StringVar(&f.cert, "tls-cert", "", "client certificate `file` (PEM), for TCP")
	fs.StringVar(&f.key, "tls-key", "", "client key `file` (PEM), for TCP")
	fs.StringVar(&f.ca, "ca", "", "CA `file` (PEM) that frostd's certificate chains to, for TCP")
	fs.StringVar(&f.serverName, "server-name", "", "name to verify frostd's certificate against (default: the host)")
	fs.BoolVar(&f.noLocal, "no-local", false, "read guest memory over gRPC even on frostd's host (not through the read-only mapping of guest RAM frostd hands local clients)")
}

// dial connects through the client package (client.Dial), so that on
// frostd's host guest-memory reads can go through the read-only mapping
// of guest RAM frostd hands local clients; every other call is the same
// gRPC as before, on the client's connection.
func (f *connFlags) dial() (*client.Client, error) {
	var opts []client.Option
	if f.noLocal {
		opts = append(opts, client.WithoutLocalMemory())
	}
	if strings.HasPrefix(f.addr, "tcp:") {
		cfg, err := f.tls()
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithTLS(cfg))
		return client.Dial(context.Background(), f.addr, opts...)
	}
	path := strings.TrimPrefix(f.addr, "unix:")
	if err := probeSocket(path); err != nil {
		return nil, err
	}
	return client.Dial(context.Background(), path, opts...)
}

// tls is frostd's TCP transport: TLS always, with the client certificate
// that mutual TLS asks for.
func (f *connFlags) tls() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", f.ca)
		}
	}
	if f.cert != "" || f.key != "" {
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
