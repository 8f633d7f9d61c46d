package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/frostvmi/frost/api"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// libvirtSource hands out a libvirt connection, dialing again once the
// one it has is lost (libvirtd restarted): the guard lives long, and a
// recovery must not fail on a connection that died hours ago.
type libvirtSource struct {
	uri string

	mu   sync.Mutex
	conn *libvirt.Conn
}

func (s *libvirtSource) get(ctx context.Context) (*libvirt.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		select {
		case <-s.conn.Disconnected():
			s.conn.Close()
			s.conn = nil
		default:
			return s.conn, nil
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := libvirt.Dial(dctx, s.uri)
	if err != nil {
		return nil, fmt.Errorf("connecting to libvirt (%s): %w", s.uri, err)
	}
	s.conn = c
	return c, nil
}

func (s *libvirtSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// releaser lets go of VMs through libvirt connections from conn: the
// guard's own, or frostd's at start.
func releaser(conn func(context.Context) (*libvirt.Conn, error), timeout time.Duration) session.Releaser {
	return session.Releaser{
		Timeout: timeout,
		Attach: func(ctx context.Context, name string) (vmi.Target, error) {
			c, err := conn(ctx)
			if err != nil {
				return nil, err
			}
			d, err := c.Lookup(ctx, name)
			if err != nil {
				return nil, err
			}
			st, err := d.State(ctx)
			if err != nil {
				return nil, err
			}
			if st != libvirt.StateRunning && st != libvirt.StatePaused && st != libvirt.StateBlocked {
				return nil, fmt.Errorf("%s is %s: %w", name, st, session.ErrNotRunning)
			}
			return vmi.AttachDomain(ctx, c, name, vmi.Options{})
		},
		ResumePaused: func(ctx context.Context, name string) (bool, error) {
			c, err := conn(ctx)
			if err != nil {
				return false, err
			}
			d, err := c.Lookup(ctx, name)
			if err != nil {
				return false, err
			}
			st, err := d.State(ctx)
			if err != nil || st != libvirt.StatePaused {
				return false, err
			}
			return true, d.Resume(ctx)
		},
	}
}

// statusRecorder refuses a hold frostd cannot write down with
// FailedPrecondition naming the file and the error (api passes a status
// through as it is); session's errors carry no gRPC codes of their own.
type statusRecorder struct{ f *session.StateFile }

func (r statusRecorder) Begin(h session.Hold) (func(), error) {
	end, err := r.f.Begin(h)
	var re *session.RecordError
	if errors.As(err, &re) {
		return nil, status.Error(codes.FailedPrecondition, re.Error())
	}
	return end, err
}

// vmServices are the services that need to hold guests (all but symbols
// and the version).
func vmServices() []string {
	var out []string
	for _, n := range api.ServiceNames() {
		if !strings.HasSuffix(n, ".SymbolService") && !strings.HasSuffix(n, ".VersionService") {
			out = append(out, n)
		}
	}
	return out
}

// loadRecord reads what a dead frostd recorded and the guard did not
// already let go. A corrupt record is kept aside and said loudly; what it
// held is then looked for among libvirt's domains (a gdbstub Frost
// started and nobody detached).
func loadRecord(ctx context.Context, state *session.StateFile, leftovers func(context.Context) ([]string, error), log *slog.Logger) session.Holds {
	holds, err := state.LoadHolds()
	var corrupt *session.CorruptError
	switch {
	case errors.As(err, &corrupt):
		log.Error("CRASH RECORD CORRUPT: recovering what libvirt shows instead", "state_file", corrupt.Path, "kept_as", corrupt.Kept, "error", corrupt.Err)
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		names, lerr := leftovers(lctx)
		cancel()
		if lerr != nil {
			log.Error("crash recovery: looking for Frost's gdbstubs among libvirt's domains", "error", lerr)
		}
		holds.VMs = names
		log.Warn("crash recovery: domains with a gdbstub Frost left", "vms", names)
	case err != nil:
		log.Error("crash recovery: reading the state file", "state_file", state.Path, "error", err)
	}
	return holds
}

// startRecovery lets go of holds in the background while frostd serves.
func startRecovery(holds session.Holds, state *session.StateFile, reg *session.Registry, rel session.Releaser, log *slog.Logger) <-chan struct{} {
	if holds.Empty() {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	log.Info("crash recovery started in the background", "vms", holds.Names())
	return session.Recover(holds, state, reg, rel, func(r session.RecoveryResult) {
		if r.Err != nil {
			log.Error("crash recovery", "vm", r.VM, "error", r.Err)
		} else {
			log.Info("crash recovery", "vm", r.VM, "result", r.String())
		}
	})
}
