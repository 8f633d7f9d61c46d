package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// launch used to ask frostd to define and start the bundled mini-NT guest
// (LaunchDemoGuest). The product no longer links the test guest: the demo
// tool does it (minint define). The command stays so that a user, or a
// script, that runs it learns the replacement, spelled with the same
// arguments, instead of "unknown command"; it never calls frostd, and
// exits 2 like any usage error.
func init() {
	register(command{name: "launch", args: "NAME [--paging-file PATH]... [--paused] (removed)",
		short:   "removed: prints the minint define command that replaced it",
		long:    "Removed: frostd no longer launches the bundled test guest. This prints the demo tool's command (minint define) with the same arguments, and exits 2.",
		example: "frostctl launch demo --paused",
		minPos:  1, maxPos: 1, setup: cmdLaunch})
}

func cmdLaunch(c *cli, fs *pflag.FlagSet) runFunc {
	var paging multi
	fs.Var(&paging, "paging-file", "a paging file the guest's registry asks for, e.g. 'C:\\pagefile.sys' (repeatable; quoted in a shell)")
	opts := fs.String("load-options", "", "the loader's LoadOptions, e.g. \"MININT INRAM\"")
	paused := fs.Bool("paused", false, "leave the vCPUs stopped (then boot or attach)")
	seed := fs.String("seed", "", "fix the KASLR seed")
	return func(_ context.Context, pos []string) error {
		repl := []string{"minint", "define", shellQuote(pos[0])}
		for _, p := range paging {
			repl = append(repl, "--paging-file", shellQuote(p))
		}
		if *opts != "" {
			repl = append(repl, "--load-options", shellQuote(*opts))
		}
		if *seed != "" {
			repl = append(repl, "--seed", shellQuote(*seed))
		}
		if *paused {
			repl = append(repl, "--paused")
		}
		fmt.Fprintf(c.errOut, "frostctl launch: removed; frostd no longer launches the bundled test guest (LaunchDemoGuest is deprecated).\n"+
			"The demo tool does it, talking to libvirt directly; run:\n  %s\n", strings.Join(repl, " "))
		// errUsage: the exit status of a command line that cannot run (2).
		return fmt.Errorf("launch is removed: %w", errUsage)
	}
}

// shellQuote returns s as one word for a POSIX shell: bare when it holds
// nothing a shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
