package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/frostvmi/frost/guard"
	"github.com/frostvmi/frost/session"
)

// guardLink is frostd's connection to its guard. It is the state file's
// Notify: every record reaches the guard before the hold it announces
// begins; a guard that went away is reconnected (and started again if
// none answers), and if that fails the hold is refused.
type guardLink struct {
	socket string
	// spawn starts a guard; nil never starts one (tests, or a guard
	// that only its own service may start).
	spawn func() error
	log   *slog.Logger

	// resave writes the record again, and so tells a new guard
	// everything (the state file's Resave); nil: nothing to tell.
	resave func() error

	mu     sync.Mutex
	c      *guard.Client
	closed bool
}

// guardStartWait bounds how long frostd waits for a guard it started to
// listen.
const guardStartWait = 5 * time.Second

// connect reaches the guard, starting one if none answers, and says hello:
// that waits for a recovery the guard is running, so the state file read
// afterwards says what it let go.
func (g *guardLink) connect(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.connectLocked(ctx)
}

func (g *guardLink) connectLocked(ctx context.Context) error {
	if g.c != nil {
		g.c.Close()
		g.c = nil
	}
	c, err := guard.Dial(ctx, g.socket)
	if err != nil && g.spawn != nil {
		g.log.Info("no guard answers: starting one", "socket", g.socket, "reason", err)
		if serr := g.spawn(); serr != nil {
			return fmt.Errorf("starting the guard: %w", serr)
		}
		deadline := time.Now().Add(guardStartWait)
		for time.Now().Before(deadline) {
			if c, err = guard.Dial(ctx, g.socket); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err != nil {
		return fmt.Errorf("guard at %s: %w", g.socket, err)
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rep, err := c.Hello(hctx)
	if err != nil {
		c.Close()
		return fmt.Errorf("guard at %s: %w", g.socket, err)
	}
	if len(rep.Recovered) > 0 {
		g.log.Warn("the guard let go of guests a previous frostd held", "vms", rep.Recovered)
	}
	g.log.Info("guard connected", "socket", g.socket, "guard_pid", rep.PID)
	g.c = c
	go g.watch(c)
	return nil
}

// watch notices the guard's end (killed, restarted by its service) at
// once rather than at the next hold: frostd reconnects, starting a guard
// if none answers, and tells it everything again, retrying with backoff.
func (g *guardLink) watch(c *guard.Client) {
	<-c.Done()
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		g.mu.Lock()
		// Still this connection, or none since (a reconnect failed).
		current := (g.c == c || g.c == nil) && !g.closed
		g.mu.Unlock()
		if !current || g.resave == nil {
			return // replaced, or frostd is stopping
		}
		g.log.Warn("the guard's connection dropped: reconnecting and telling it what frostd holds")
		err := g.resave() // through tell, which reconnects
		if err == nil {
			return
		}
		g.log.Error("no guard: frostd refuses new holds until one answers", "error", err, "retry_in", wait)
		time.Sleep(wait)
	}
}

// tell is the state file's Notify.
func (g *guardLink) tell(h session.Holds) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c != nil {
		if err := g.c.Tell(h); err == nil {
			return nil
		} else {
			g.log.Warn("the guard does not answer: reconnecting", "error", err)
		}
	}
	if err := g.connectLocked(context.Background()); err != nil {
		return err
	}
	return g.c.Tell(h)
}

// close ends the link: with bye when nothing is held any more, so the
// guard recovers nothing; without it otherwise, so that the guard lets go
// of what frostd could not.
func (g *guardLink) close(bye bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.c == nil {
		return
	}
	if bye {
		if err := g.c.Bye(); err != nil {
			g.log.Warn("telling the guard bye", "error", err)
		}
	} else {
		g.log.Warn("stopping with guests still held: the guard lets them go")
	}
	g.c.Close()
	g.c = nil
}

// spawnGuard starts `frostd guard` from this same binary, detached: in a
// session of its own (a signal to frostd's process group, or its
// terminal closing, does not reach it) with its output in guard.log
// beside the socket. It exits once frostd says bye with nothing held.
func spawnGuard(socket, stateFile, libvirtURI, logLevel string) func() error {
	return func() error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		logf, err := os.OpenFile(filepath.Join(filepath.Dir(socket), "guard.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer logf.Close()
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		defer devnull.Close()
		cmd := exec.Command(exe, "guard", "--socket", socket, "--state-file", stateFile,
			"--libvirt", libvirtURI, "--log-level", logLevel, "--exit-when-idle")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		// Reap it if it ends while frostd runs; otherwise init does.
		go func() { _ = cmd.Wait() }()
		return nil
	}
}

var errNoGuard = errors.New("frostd runs without a guard (--no-guard): if it dies, its guests stay held until the next frostd starts")
