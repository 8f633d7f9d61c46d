package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/frostvmi/frost/guard"
	"github.com/frostvmi/frost/session"
	"github.com/frostvmi/frost/vmi/libvirt"
)

// guardSocketName is the guard's socket, beside frostd's state file.
const guardSocketName = "guard.sock"

// runGuard is `frostd guard`: the process that outlives frostd and lets
// its guests go if it dies (package guard). It is a subcommand of the
// same binary so there is one file to install.
func runGuard(ctx context.Context, args []string, stderr io.Writer) int {
	g, err := parseGuardFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "frostd guard:", err)
		return 2
	}
	log := newLogger(&config{logLevel: g.logLevel, logFormat: g.logFormat}, stderr).With("component", "guard")
	lv := &libvirtSource{uri: g.libvirtURI}
	defer lv.close()
	srv, err := guard.Listen(guard.Config{
		Socket:       g.socket,
		Releaser:     releaser(lv.get, g.timeout),
		State:        &session.StateFile{Path: g.stateFile},
		Log:          log,
		ExitWhenIdle: g.exitIdle,
	})
	if err != nil {
		log.Error("guard not started", "error", err)
		return 1
	}
	// Connected before it is needed, once listening (frostd waits for
	// the socket): a recovery must not pay for the dial. A failure here is
	// retried at the recovery.
	go func() {
		if _, err := lv.get(ctx); err != nil {
			log.Warn("no libvirt connection yet; the guard dials again when it must let a guest go", "error", err)
		}
	}()
	if err := srv.Serve(ctx); err != nil {
		log.Error("guard stopped", "error", err)
		return 1
	}
	return 0
}

// guardConfig is `frostd guard`'s flags.
type guardConfig struct {
	socket, stateFile, libvirtURI string
	timeout                       time.Duration
	exitIdle                      bool
	logLevel, logFormat           string
}

func parseGuardFlags(args []string, stderr io.Writer) (*guardConfig, error) {
	dir := defaultDir()
	g := &guardConfig{}
	fs := flag.NewFlagSet("frostd guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.socket, "socket", filepath.Join(dir, guardSocketName), "unix socket `path` frostd connects to (0600)")
	fs.StringVar(&g.stateFile, "state-file", filepath.Join(dir, "state.json"), "frostd's state `file`: what the guard let go is removed from it")
	fs.StringVar(&g.libvirtURI, "libvirt", libvirt.DefaultURI, "libvirt `URI`, or the path of libvirtd's socket")
	fs.DurationVar(&g.timeout, "timeout", 10*time.Second, "bound on letting go of one VM")
	fs.BoolVar(&g.exitIdle, "exit-when-idle", false, "stop once frostd says bye and nothing is held (how frostd spawns it)")
	fs.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&g.logFormat, "log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if g.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	return g, nil
}
