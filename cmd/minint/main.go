// Command minint is the demo tool of Frost's bundled mini-NT guest. The
// product (frostd) never links the test guest; this tool does.
//
//   - minint [flags] boots mini-NT under a QEMU it launches itself and
//     shows its boot report: it starts mini-NT with one paging file and
//     writer.exe writing every 500 ms, prints each frost-guest line from
//     COM1 as the guest prints it, stops once the guest is ready and
//     writer.exe has written a few times, prints \frost\log.txt from the
//     guest's C: disk image, and cleans up.
//   - minint define NAME [flags] defines mini-NT as a libvirt domain and
//     starts it (paused on request), for frostd to attach to or boot: what
//     `make demo` runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Piped into head, a write to stdout would otherwise kill us by
	// SIGPIPE before Stop removes the RAM file and the machine directory.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "define" {
		o, err := parseDefineFlags(args[1:], os.Stderr)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return
		case err != nil:
			os.Exit(2) // the flag package or parseDefineFlags said why
		}
		if err := define(ctx, o, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "minint define:", err)
			os.Exit(1)
		}
		return
	}
	opts := parseFlags(args)
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "minint:", err)
		os.Exit(1)
	}
}
