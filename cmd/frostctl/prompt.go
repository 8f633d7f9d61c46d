package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The prompt of break --stop: one command a line, from a person at a
// terminal ("frost> "), from a script on stdin, or from --exec.

const promptHelp = `commands (on the held hit; ADDR is hex, a register, or module!symbol):
  regs                 general registers, rflags, cr3
  stack                the call stack, unwound and symbolized
  disasm [ADDR] [N]    N instructions from ADDR (default: around RIP, marked =>)
  read ADDR LEN        hexdump, in the hit's process
  step                 execute one instruction, show the next
  continue             let the guest go and end (also: quit, EOF, ^C)
  help                 this list
`

// errContinue ends the prompt: the user let the guest go.
var errContinue = errors.New("continue")

// execLines splits --exec's text into commands: ';' or newlines between
// them.
func execLines(s string) []string {
	var out []string
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lineSource feeds the prompt: the given lines, or r's lines as they come
// (closed at EOF).
func lineSource(lines []string, r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		if r == nil {
			for _, l := range lines {
				ch <- l
			}
			return
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// prompt runs commands on the held hit until continue, quit, the end of
// the input, ^C (ctx), or frostd ending the hold. interactive prints the
// prompt before each command; otherwise each command is echoed after it,
// so a transcript reads as a session. Failed commands are reported and
// the next one runs; the count of failures is the error at the end, so a
// script learns of them from the exit status.
func (h *heldHit) prompt(ctx context.Context, lines <-chan string, interactive bool) error {
	w := h.c.out
	failed := 0
	for {
		if interactive {
			fmt.Fprint(w, "frost> ")
		}
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			fmt.Fprintln(w, "\ninterrupted: letting the guest go")
			return nil
		case e := <-h.ended:
			h.endSeen = true
			return errors.New(endedText(e))
		case line, ok = <-lines:
		}
		if !ok {
			if interactive {
				fmt.Fprintln(w)
			}
			break
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !interactive {
			fmt.Fprintf(w, "frost> %s\n", line)
		}
		err := h.do(ctx, w, line)
		if errors.Is(err, errContinue) {
			break
		}
		if err != nil {
			failed++
			fmt.Fprintf(h.c.errOut, "frost: %s: %s\n", strings.Fields(line)[0], describeError(err))
		}
	}
	if failed > 0 && !interactive {
		return fmt.Errorf("%d command(s) at the prompt failed", failed)
	}
	return nil
}

// do runs one command line.
func (h *heldHit) do(ctx context.Context, w io.Writer, line string) error {
	f := strings.Fields(line)
	cmd, args := strings.ToLower(f[0]), f[1:]
	noArgs := func(run func() error) error {
		if len(args) > 0 {
			return fmt.Errorf("%s takes no arguments", cmd)
		}
		return run()
	}
	switch cmd {
	case "regs", "r":
		return noArgs(func() error { return h.cmdRegs(ctx, w) })
	case "stack", "k":
		return noArgs(func() error { return h.cmdStack(ctx, w) })
	case "disasm", "u":
		return h.cmdDisasm(ctx, w, args)
	case "read", "db":
		return h.cmdRead(ctx, w, args)
	case "step", "t":
		return noArgs(func() error { return h.cmdStep(ctx, w) })
	case "continue", "c", "g", "quit", "q", "exit":
		return errContinue
	case "help", "?":
		fmt.Fprint(w, promptHelp)
		return nil
	}
	return fmt.Errorf("unknown command (help lists them)")
}
