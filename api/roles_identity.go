package api

import (
	"context"
	"crypto/x509"
	"strconv"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/frostvmi/frost/audit"
)

// caller is who made a call, as the transport vouches for it: the kernel's
// SO_PEERCRED on the unix socket (PeerCredentials), the verified client
// certificate on TCP. Neither may be known (a unix socket not wrapped, TCP
// with --tcp-insecure-any-client), and then the call is nobody's.
type caller struct {
	unix *PeerAddr
	cert *x509.Certificate
	addr string
}

func callerOf(ctx context.Context) caller {
	p, ok := peer.FromContext(ctx)
	if !ok || p == nil {
		return caller{}
	}
	c := caller{unix: peerCredentials(p, ok)}
	if p.Addr != nil {
		c.addr = p.Addr.String()
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		// Only a chain the server verified names the client: with
		// --tcp-insecure-any-client a presented certificate is unchecked.
		if len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
			c.cert = ti.State.VerifiedChains[0][0]
		}
	}
	return c
}

// String names the caller for messages: "unix uid 1001 gid 1001 pid 42",
// "client certificate CN=alice,O=lab", or its address.
func (c caller) String() string {
	switch {
	case c.unix != nil:
		return "unix uid " + strconv.FormatUint(uint64(c.unix.UID), 10) +
			" gid " + strconv.FormatUint(uint64(c.unix.GID), 10) +
			" pid " + strconv.Itoa(int(c.unix.PID))
	case c.cert != nil:
		return "client certificate " + c.cert.Subject.String()
	case c.addr != "":
		return "an unidentified peer at " + c.addr
	}
	return "an unidentified peer"
}

// who is the caller for the audit log.
func (c caller) who() audit.Who {
	var w audit.Who
	if c.unix != nil {
		uid, gid, pid := c.unix.UID, c.unix.GID, c.unix.PID
		w.UID, w.GID, w.PID = &uid, &gid, &pid
		return w
	}
	if c.cert != nil {
		w.Subject = c.cert.Subject.String()
	}
	if w.Subject == "" {
		w.Addr = c.addr
	}
	return w
}
