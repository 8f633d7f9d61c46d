// Command frostctl is the CLI of frostd's gRPC API: virsh's verbs for VMs,
// WinDbg's for what is inside them.
//
//	frostctl [connection flags] COMMAND [flags] [args]
//
// Every command prints a human table by default and the API's own messages
// as JSON with --json, for scripts. A command whose backend has not landed
// in the frostd it talks to prints the server's "not available yet" error.
// Run `frostctl help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// command is one frostctl verb.
type command struct {
	name, args, help string
	run              func(ctx context.Context, c *cli, args []string) error
}

var commands []command

func register(cmds ...command) { commands = append(commands, cmds...) }

// subcommands lists, for each command whose first argument picks what it
// does (symbols resolve, monitor ntwritefile), the names it takes. The
// test that runs every command through the built binary runs each of them.
var subcommands = map[string][]string{}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	conn := connFlags{}
	fs := flag.NewFlagSet("frostctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	conn.register(fs)
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 || fs.Arg(0) == "help" {
		usage(stdout, fs)
		return 0
	}
	name := fs.Arg(0)
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "frostctl: unknown command %q (see frostctl help)\n", name)
		return 2
	}
	c := &cli{conn: conn, out: stdout, errOut: stderr}
	defer c.close()
	err := cmd.run(ctx, c, fs.Args()[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "usage: frostctl %s %s\n", cmd.name, cmd.args)
		return 2
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintf(stderr, "frostctl %s: %s\n", name, describeError(err))
	return 1
}

var errUsage = errors.New("usage")

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: frostctl [connection flags] COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-9s %-38s %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintln(w, "\nEvery command takes --json, and those about a VM --vm NAME (default $FROST_VM).")
	fmt.Fprintln(w, "\nconnection flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// timeout bounds one unary call; streams run until interrupted.
const timeout = 60 * time.Second

func unaryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}
