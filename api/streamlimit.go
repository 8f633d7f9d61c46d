package api

import (
	"context"
	"net"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"

	pb "github.com/frostvmi/frost/proto/frost/v1"
)

// streamBufferedChunks is what one stream of guest memory may hold at
// once, in chunks: the one being read, the message queued in the
// transport, the next one encoded and waiting in Send for the window (gRPC
// blocks there, so a client that stops reading holds no more), and slack
// for the transport's own copies. Measured: 16 unread streams of 2 MiB
// chunks held 57-123 MiB of heap, client side included (up to 3.9 chunks
// each; TestUnreadStreamsAreBounded logs it).
const streamBufferedChunks = 5

// admitStream counts a stream of what, sending chunks of chunk bytes,
// against frostd's limits (session.Streams); the caller defers release.
func (c *Config) admitStream(ctx context.Context, what string, chunk int) (release func(), err error) {
	release, err = c.sessions.Streams().Admit(clientKey(ctx), int64(chunk)*streamBufferedChunks)
	if err != nil {
		return nil, apiError(codes.ResourceExhausted, pb.ErrorReason_ERROR_REASON_LIMIT_EXCEEDED, what+": "+err.Error())
	}
	return release, nil
}

// clientKey names the client a stream is counted for: a local user by
// uid (however many processes it runs), a remote one by host.
func clientKey(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "in-process"
	}
	switch a := p.Addr.(type) {
	case *PeerAddr:
		return "uid " + strconv.FormatUint(uint64(a.UID), 10)
	case *net.TCPAddr:
		return "host " + a.IP.String()
	}
	return p.Addr.Network() + " " + p.Addr.String()
}
