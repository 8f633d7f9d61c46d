package metrics

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Interceptors count every call by method and code and time it. They go
// first in the chain, so calls another interceptor refuses (a role's
// PermissionDenied) are counted too.
func (m *Metrics) Interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		m.observe(info.FullMethod, start, err)
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		err := h(srv, ss)
		m.observe(info.FullMethod, start, err)
		return err
	}
	return unary, stream
}

func (m *Metrics) observe(method string, start time.Time, err error) {
	m.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
	m.dur.WithLabelValues(method).Observe(time.Since(start).Seconds())
}
