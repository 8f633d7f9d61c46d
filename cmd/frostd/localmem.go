package main

import (
	"log/slog"
	"os"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/session"
)

// serveLocalMemory starts the local-memory side socket beside the gRPC
// unix socket at sock (api.LocalMemorySocket), made by listenUnix so it
// has the gRPC socket's mode (and group). Without it local clients read
// over gRPC, so a failure to listen is logged, not fatal. stop closes the
// listener, waits for exchanges in flight, and removes the socket.
func serveLocalMemory(sock string, reg *session.Registry, log *slog.Logger) (stop func()) {
	path := api.LocalMemorySocket(sock)
	l, err := listenUnix(path)
	if err != nil {
		log.Error("no local-memory socket: local clients will read over gRPC", "path", path, "error", err)
		return func() {}
	}
	lm := &api.LocalMemory{Registry: reg, Log: log}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := lm.Serve(l); err != nil {
			log.Error("local-memory socket", "path", path, "error", err)
		}
	}()
	log.Info("local-memory socket serving", "path", path)
	return func() {
		l.Close()
		<-done
		os.Remove(path)
	}
}
