package api

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Interceptors log every call once, at its end: expected failures (a bad
// request, a missing symbol) at Info, server-side failures at Warn, so an
// operator's log shows what broke without drowning in lookups.
func Interceptors(log *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		logCall(log, info.FullMethod, start, err)
		return resp, err
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		err := h(srv, ss)
		logCall(log, info.FullMethod, start, err)
		return err
	}
	return unary, stream
}

func logCall(log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	level := slog.LevelDebug
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		level = slog.LevelWarn
	default:
		level = slog.LevelInfo
	}
	log.Log(context.Background(), level, "rpc", "method", method, "code", code.String(),
		"duration", time.Since(start), "error", errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	// Clipped: a status made outside apiError may quote a huge request
	// field, and one call must not make a megabyte log line.
	return clipMessage(status.Convert(err).Message())
}
