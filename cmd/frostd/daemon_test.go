package main

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// daemon is a frostd running in-process for a test.
type daemon struct {
	addr string
	out  *syncBuffer
	stop func() int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseArgs keeps a test frostd off the machine's real paths and libvirtd.
func baseArgs(t *testing.T) []string {
	dir := t.TempDir()
	return []string{
		"--listen", filepath.Join(dir, "frostd.sock"),
		"--state-file", filepath.Join(dir, "state.json"),
		"--data-dir", filepath.Join(dir, "vms"),
		"--libvirt", filepath.Join(dir, "no-libvirtd.sock"),
		"--symbol-path", "",
		"--log-level", "debug",
	}
}

func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{out: &syncBuffer{}}
	ready := make(chan string, 1)
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, d.out, func(a string) { ready <- a }) }()
	select {
	case d.addr = <-ready:
	case c := <-code:
		cancel()
		t.Fatalf("frostd exited with %d before serving:\n%s", c, d.out)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("frostd did not start:\n%s", d.out)
	}
	var once sync.Once
	var rc int
	d.stop = func() int {
		once.Do(func() { cancel(); rc = <-code })
		return rc
	}
	t.Cleanup(func() { d.stop() })
	return d
}

func dialUnix(t testing.TB, path string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
