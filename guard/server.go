package guard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/frostvmi/frost/session"
)

// Config is the guard's wiring.
type Config struct {
	// Socket is where it listens; its directory must be ours and not
	// writable by others.
	Socket string
	// Releaser lets go of a VM (its own libvirt connection).
	Releaser session.Releaser
	// State, if set, is frostd's state file: the guard removes what it
	// let go, so the next frostd does not redo it.
	State *session.StateFile
	Log   *slog.Logger
	// ExitWhenIdle ends Serve after a clean bye leaves no frostd
	// connected: a guard frostd spawned does not linger. A guard run by
	// its own service stays.
	ExitWhenIdle bool
}

// Server is a listening guard.
type Server struct {
	cfg Config
	l   *net.UnixListener
	ino uint64 // the socket's inode: a replaced socket is not ours

	mu         sync.Mutex
	conns      int
	recovering int        // recoveries running
	calm       *sync.Cond // signalled when one ends
	recovered  []string   // since the last hello
	idle       chan struct{}
}

// Listen makes the guard's socket, mode 0600 from its first moment. A
// socket left by a dead guard is replaced; one a live guard serves is
// refused (one guard per directory).
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	dir := filepath.Dir(cfg.Socket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := checkOwned(dir, false); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(cfg.Socket); err == nil {
		if c, err := net.DialTimeout("unix", cfg.Socket, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("guard: another guard listens on %s", cfg.Socket)
		}
		if err := checkOwned(cfg.Socket, true); err != nil {
			return nil, err
		}
		if err := os.Remove(cfg.Socket); err != nil {
			return nil, err
		}
	}
	old := syscall.Umask(0o177)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Socket, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false) // a successor's socket is not ours to remove
	s := &Server{cfg: cfg, l: l, idle: make(chan struct{}, 1)}
	s.calm = sync.NewCond(&s.mu)
	if s.ino, err = inode(cfg.Socket); err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

func inode(path string) (uint64, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("guard: no inode for " + path)
	}
	return st.Ino, nil
}

// Addr is the socket's path.
func (s *Server) Addr() string { return s.cfg.Socket }

// socketCheck is how often the guard checks that its socket is still its
// own: one removed (its directory deleted) or replaced means nobody can
// reach this guard any more, so it ends once no recovery runs.
const socketCheck = time.Second

// Serve accepts frostd's connections until ctx ends, the socket is gone,
// or (ExitWhenIdle) a clean bye leaves nothing to guard. A recovery under
// way is finished first.
func (s *Server) Serve(ctx context.Context) error {
	defer s.waitRecoveries()
	accepted := make(chan *net.UnixConn)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := s.l.AcceptUnix()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	defer s.l.Close()
	tick := time.NewTicker(socketCheck)
	defer tick.Stop()
	s.cfg.Log.Info("guard listening", "socket", s.cfg.Socket, "pid", os.Getpid())
	for {
		select {
		case c := <-accepted:
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
			go s.handle(c)
		case err := <-acceptErr:
			return err
		case <-ctx.Done():
			s.cfg.Log.Info("guard stopping", "reason", context.Cause(ctx))
			return nil
		case <-tick.C:
			if ino, err := inode(s.cfg.Socket); err != nil || ino != s.ino {
				s.cfg.Log.Info("guard socket removed or replaced: nobody can reach this guard; stopping", "socket", s.cfg.Socket)
				return nil
			}
		case <-s.idle:
			s.mu.Lock()
			done := s.conns == 0
			s.mu.Unlock()
			if done {
				s.cfg.Log.Info("frostd said bye and nothing is held: guard stopping")
				return nil
			}
		}
	}
}

// handle serves one frostd. Whatever it last said it held is let go when
// its connection drops without a bye.
func (s *Server) handle(c *net.UnixConn) {
	var held session.Holds
	bye := false
	log := s.cfg.Log
	defer func() {
		c.Close()
		if !bye && !held.Empty() {
			log.Warn("frostd's connection dropped without bye: letting its guests go", "vms", held.Names())
			s.recover(held)
		}
		s.mu.Lock()
		s.conns--
		s.mu.Unlock()
		if bye && s.cfg.ExitWhenIdle {
			select {
			case s.idle <- struct{}{}:
			default:
			}
		}
	}()
	if err := checkPeer(c); err != nil {
		log.Warn("refused a connection", "error", err)
		return
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		var req Request
		if err := decode(line, &req); err != nil {
			_ = encode(c, Reply{Error: err.Error()})
			return
		}
		reply := Reply{OK: true, PID: os.Getpid()}
		switch req.Op {
		case OpHello:
			log = s.cfg.Log.With("frostd_pid", req.PID)
			s.mu.Lock()
			for s.recovering > 0 { // a successor waits for the recovery
				s.calm.Wait()
			}
			reply.Recovered, s.recovered = s.recovered, nil
			s.mu.Unlock()
			log.Info("frostd connected")
		case OpHold:
			held, bye = req.Holds, false
			log.Debug("frostd holds", "vms", held.VMs, "paused", held.Paused)
		case OpBye:
			held, bye = session.Holds{}, true
			log.Info("frostd said bye")
		default:
			reply = Reply{Error: fmt.Sprintf("guard: unknown operation %q", req.Op)}
		}
		if err := encode(c, reply); err != nil {
			return
		}
	}
}

// recover lets go of h at once, each VM in parallel with its own
// deadline, and records what it did. It holds no guest beyond that.
func (s *Server) recover(h session.Holds) {
	s.mu.Lock()
	s.recovering++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.recovering--
		s.calm.Broadcast()
		s.mu.Unlock()
	}()
	start := time.Now()
	results := s.cfg.Releaser.ReleaseAll(context.Background(), h, func(r session.RecoveryResult) {
		if r.Err != nil {
			s.cfg.Log.Error("guard recovery", "vm", r.VM, "error", r.Err, "after", time.Since(start))
		} else {
			s.cfg.Log.Info("guard recovery", "vm", r.VM, "result", r.String(), "after", time.Since(start))
		}
	})
	var done []string
	for _, r := range results {
		if r.Err == nil {
			done = append(done, r.VM)
		}
	}
	s.mu.Lock()
	s.recovered = append(s.recovered, done...)
	s.mu.Unlock()
	if s.cfg.State != nil && len(done) > 0 {
		if err := s.cfg.State.Forget(done); err != nil {
			s.cfg.Log.Error("guard: recording the recovery in the state file", "path", s.cfg.State.Path, "error", err)
		}
	}
}

func (s *Server) waitRecoveries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.recovering > 0 {
		s.calm.Wait()
	}
}
