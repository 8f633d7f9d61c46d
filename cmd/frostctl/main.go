// Command frostctl is the CLI of frostd's gRPC API: virsh's verbs for VMs,
// WinDbg's for what is inside them.
//
//	frostctl [global flags] COMMAND [flags] [args]
//
// Every command prints a human table by default and, with --json, JSON for
// scripts (docs/frostctl-json.md; --json=proto prints the API's own
// messages). A command whose
// backend has not landed in the frostd it talks to prints the server's
// "not available yet" error. Dispatch, flags, help, shell completion and
// man pages come from cobra, which kubectl, etcdctl and docker use: flags
// go before or after arguments, and `frostctl COMMAND --help` explains
// each command with an example.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is one invocation: its exit status is 0 on success, 1 when the
// command failed (frostd's error, or a file that could not be written), 2
// when the command line itself is wrong.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &cli{out: stdout, errOut: stderr}
	defer c.close()
	cmd, err := c.execute(ctx, args)
	if err == nil {
		return 0
	}
	name := "frostctl"
	if cmd != nil && cmd.HasParent() {
		name = cmd.CommandPath()
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", name, ue.msg)
		}
		if cmd != nil && cmd.HasParent() {
			fmt.Fprintf(stderr, "usage: %s\n(see %s --help)\n", cmd.UseLine(), cmd.CommandPath())
		}
		return 2
	case errors.Is(err, errUsage):
		if cmd != nil {
			fmt.Fprintf(stderr, "usage: %s\n", cmd.UseLine())
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", name, describeError(err))
	return 1
}

// execute builds the command tree on c and runs args through it; it
// returns the command that ran (or failed to parse) and its error.
func (c *cli) execute(ctx context.Context, args []string) (*cobra.Command, error) {
	root := c.root()
	root.SetArgs(args)
	return root.ExecuteContextC(ctx)
}

// errUsage marks an error whose command line cannot run: the exit status
// is 2 and the command's usage line follows.
var errUsage = errors.New("usage")

// usageError is a command line that cannot run, with what is wrong (a
// flag frostctl does not know, an argument too many).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

// timeout bounds one unary call; streams run until interrupted.
const timeout = 60 * time.Second

func unaryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}
