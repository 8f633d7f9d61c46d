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
	dir := defaultDir()
	fs := flag.NewFlagSet("frostd guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", filepath.Join(dir, guardSocketName), "unix socket `path` frostd connects to (0600)")
	stateFile := fs.String("state-file", filepath.Join(dir, "state.json"), "frostd's state `file`: what the guard let go is removed from it")
	uri := fs.String("libvirt", libvirt.DefaultURI, "libvirt `URI`, or the path of libvirtd's socket")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on letting go of one VM")
	exitIdle := fs.Bool("exit-when-idle", false, "stop once frostd says bye and nothing is held (how frostd spawns it)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "frostd guard: unexpected arguments:", fs.Args())
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "frostd guard: --timeout must be positive")
		return 2
	}
	log := newLogger(&config{logLevel: *logLevel, logFormat: *logFormat}, stderr).With("component", "guard")
	lv := &libvirtSource{uri: *uri}
	defer lv.close()
	srv, err := guard.Listen(guard.Config{
		Socket:       *socket,
		Releaser:     releaser(lv.get, *timeout),
		State:        &session.StateFile{Path: *stateFile},
		Log:          log,
		ExitWhenIdle: *exitIdle,
	})
	if err != nil {
		log.Error("guard not started", "error", err)
		return 1
	}
	if err := srv.Serve(ctx); err != nil {
		log.Error("guard stopped", "error", err)
		return 1
	}
	return 0
}
