package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc/credentials"
)

// listenUnix makes the socket with mode 0600 from its first moment: the
// umask is narrowed around bind, because a chmod after it would leave a
// window in which any local user could connect. The directory is made 0700
// when frostd creates it.
func listenUnix(path string) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// MkdirAll keeps a directory that exists, whoever made it.
	euid := os.Geteuid()
	if err := checkSocketDir(dir, euid, euid != 0 && dir == defaultDir()); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	// --socket-group: the group may enter the directory and connect.
	if g := groupForDir(dir); g != nil {
		if err := g.openDir(dir); err != nil {
			l.Close()
			return nil, err
		}
		if err := g.openSocket(path); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// removeStaleSocket removes a socket left by a frostd that died, and
// refuses to take over one that a live frostd still serves.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another frostd is listening there", path)
	}
	return os.Remove(path)
}

// tcpCredentials builds the server's TLS: client certificates required and
// checked against the client CA, or, only with --tcp-insecure-any-client,
// none asked for.
func tcpCredentials(c *config) (credentials.TransportCredentials, error) {
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.clientCA != "" {
		pem, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("reading the client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return credentials.NewTLS(cfg), nil
}
