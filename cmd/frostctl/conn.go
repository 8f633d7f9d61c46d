package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spf13/pflag"
)

// connFlags say how to reach frostd.
type connFlags struct {
	addr          string
	cert, key, ca string
	serverName    string
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
}

func (f *connFlags) dial() (*grpc.ClientConn, error) {
	if rest, ok := strings.CutPrefix(f.addr, "tcp:"); ok {
		creds, err := f.tls()
		if err != nil {
			return nil, err
		}
		return grpc.NewClient(strings.TrimPrefix(rest, "//"), grpc.WithTransportCredentials(creds))
	}
	path := strings.TrimPrefix(f.addr, "unix:")
	if err := probeSocket(path); err != nil {
		return nil, err
	}
	return grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// tls is frostd's TCP transport: TLS always, with the client certificate
// that mutual TLS asks for.
func (f *connFlags) tls() (credentials.TransportCredentials, error) {
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
	return credentials.NewTLS(cfg), nil
}
