package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pki is a throwaway CA with a server and a client certificate, made per
// test so no key material is committed.
type pki struct {
	dir      string
	caCert   *x509.Certificate
	caKey    *ecdsa.PrivateKey
	caPool   *x509.CertPool
	clientTL tls.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.caCert, p.caKey = makeCert(t, "frost test CA", nil, nil, true)
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.caCert)
	writePEM(t, filepath.Join(p.dir, "ca.pem"), "CERTIFICATE", p.caCert.Raw)

	srv, srvKey := makeCert(t, "frostd", p.caCert, p.caKey, false)
	writePEM(t, filepath.Join(p.dir, "server.pem"), "CERTIFICATE", srv.Raw)
	der, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, "server.key"), "EC PRIVATE KEY", der)

	cl, clKey := makeCert(t, "frostctl", p.caCert, p.caKey, false)
	p.clientTL = tls.Certificate{Certificate: [][]byte{cl.Raw}, PrivateKey: clKey}
	return p
}

// makeCert makes a CA (parent nil) or a leaf signed by parent, valid for
// 127.0.0.1 as server and as client.
func makeCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, ca bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage, tmpl.IPAddresses = nil, nil
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tcpArgs(t *testing.T, p *pki, extra ...string) []string {
	args := baseArgs(t)
	args[1] = "tcp:127.0.0.1:0"
	args = append(args, "--tls-cert", filepath.Join(p.dir, "server.pem"), "--tls-key", filepath.Join(p.dir, "server.key"))
	return append(args, extra...)
}

// check makes one health call over creds and returns its error.
func check(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = healthpb.NewHealthClient(cc).Check(ctxT(t), &healthpb.HealthCheckRequest{})
	return err
}

func TestTCPWithoutTLSIsRefused(t *testing.T) {
	args := baseArgs(t)
	args[1] = "tcp:127.0.0.1:0"
	var out syncBuffer
	if rc := run(ctxT(t), args, &out, nil); rc != 2 || !strings.Contains(out.String(), "TCP needs TLS") {
		t.Errorf("frostd on TCP without TLS: exit %d, output %q; want exit 2 and a refusal", rc, out.String())
	}
	p := newPKI(t)
	out = syncBuffer{}
	if rc := run(ctxT(t), tcpArgs(t, p), &out, nil); rc != 2 || !strings.Contains(out.String(), "--client-ca") {
		t.Errorf("frostd on TCP with server-only TLS and no opt-in: exit %d, output %q; want exit 2", rc, out.String())
	}
}

func TestMutualTLS(t *testing.T) {
	p := newPKI(t)
	d := startDaemon(t, tcpArgs(t, p, "--client-ca", filepath.Join(p.dir, "ca.pem"))...)

	good := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{p.clientTL}})
	if err := check(t, d.addr, good); err != nil {
		t.Errorf("client with a CA-signed certificate: %v", err)
	}
	noCert := credentials.NewTLS(&tls.Config{RootCAs: p.caPool})
	if err := check(t, d.addr, noCert); err == nil {
		t.Error("client without a certificate was served")
	}
	other := newPKI(t)
	foreign := credentials.NewTLS(&tls.Config{RootCAs: p.caPool, Certificates: []tls.Certificate{other.clientTL}})
	if err := check(t, d.addr, foreign); err == nil {
		t.Error("client with a certificate from another CA was served")
	}
	if err := check(t, d.addr, insecure.NewCredentials()); err == nil {
		t.Error("plaintext client was served on the TLS port")
	}
}

func TestServerOnlyTLSNeedsOptInAndWarns(t *testing.T) {
	p := newPKI(t)
	d := startDaemon(t, tcpArgs(t, p, "--tcp-insecure-any-client")...)
	if err := check(t, d.addr, credentials.NewTLS(&tls.Config{RootCAs: p.caPool})); err != nil {
		t.Errorf("client without certificate under --tcp-insecure-any-client: %v", err)
	}
	if !strings.Contains(d.out.String(), "level=WARN") || !strings.Contains(d.out.String(), "without client certificates") {
		t.Errorf("no warning logged for server-only TLS:\n%s", d.out)
	}
}
