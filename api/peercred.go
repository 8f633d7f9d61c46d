package api

import (
	"net"
	"strconv"
	"syscall"

	"google.golang.org/grpc/peer"
)

// PeerCredentials wraps frostd's unix-socket listener so that every
// connection's peer address carries the uid and pid the kernel gives for
// the process that connected (SO_PEERCRED, read once at accept). gRPC puts
// a connection's remote address in its calls' peer, which is how a
// handler learns who is asking: DumpPhysicalToFile writes only into files
// that uid owns. A connection whose credentials cannot be read keeps its
// plain address, and such calls are refused.
func PeerCredentials(l net.Listener) net.Listener { return credListener{l} }

// PeerAddr is a unix-socket peer with its kernel-given credentials.
type PeerAddr struct {
	UID, GID uint32
	PID      int32
}

func (a *PeerAddr) Network() string { return "unix" }
func (a *PeerAddr) String() string {
	return "unix peer uid " + strconv.FormatUint(uint64(a.UID), 10) + " pid " + strconv.Itoa(int(a.PID))
}

type credListener struct{ net.Listener }

func (l credListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return c, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return c, nil
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return c, nil
	}
	return &credConn{UnixConn: uc, addr: &PeerAddr{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}}, nil
}

// credConn is a unix connection whose RemoteAddr is its peer's credentials.
type credConn struct {
	*net.UnixConn
	addr *PeerAddr
}

func (c *credConn) RemoteAddr() net.Addr { return c.addr }

// peerCredentials returns the caller's credentials, or nil when the call
// did not come over a unix socket wrapped by PeerCredentials.
func peerCredentials(p *peer.Peer, ok bool) *PeerAddr {
	if !ok || p == nil {
		return nil
	}
	a, _ := p.Addr.(*PeerAddr)
	return a
}
