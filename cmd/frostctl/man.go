package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// extraCommands are frostctl's own commands, beside the API's: man pages
// and the version. (cobra adds completion itself.)
func (c *cli) extraCommands() []*cobra.Command {
	man := &cobra.Command{
		Use:   "man DIR",
		Short: "write a man page per command into DIR (frostctl.1, frostctl-read.1, ...)",
		Long: `Writes a man page (roff, section 1) for frostctl and for each of its
commands into DIR (made if missing), from the same help --help prints.`,
		Example: "  frostctl man /usr/local/share/man/man1\n  man -l frostctl-read.1",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{msg: "name the directory"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := writeManPages(cmd.Root(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%d man pages in %s\n", n, args[0])
			return nil
		},
	}
	ver := &cobra.Command{
		Use:     "version",
		Short:   "frostctl's version, and frostd's and its API's (as --version)",
		Long:    "Prints frostctl's version and API, then frostd's when it answers (within 3 s), or that it is unreachable.",
		Example: "  frostctl version\n  frostctl --version --json",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return c.printVersion(cmd.Context()) },
	}
	return []*cobra.Command{man, ver}
}

// writeManPages writes root's page and one per command below it, and
// returns how many.
func writeManPages(root *cobra.Command, dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	var walk func(cmd *cobra.Command) error
	walk = func(cmd *cobra.Command) error {
		if cmd.Hidden || cmd.Name() == "help" {
			return nil
		}
		name := strings.ReplaceAll(cmd.CommandPath(), " ", "-")
		f, err := os.Create(filepath.Join(dir, name+".1"))
		if err != nil {
			return err
		}
		werr := manPage(f, cmd)
		if err := errors.Join(werr, f.Close()); err != nil {
			return err
		}
		n++
		for _, sub := range cmd.Commands() {
			if err := walk(sub); err != nil {
				return err
			}
		}
		return nil
	}
	return n, walk(root)
}

// manPage writes one command's page in man(7) roff.
func manPage(w io.Writer, cmd *cobra.Command) error {
	name := strings.ReplaceAll(cmd.CommandPath(), " ", "-")
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"Frost\" \"Frost manual\"\n", strings.ToUpper(name))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roff(name), roff(cmd.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roff(cmd.UseLine()))
	long := cmd.Long
	if long == "" {
		long = cmd.Short
	}
	b.WriteString(".SH DESCRIPTION\n")
	for _, para := range strings.Split(long, "\n\n") {
		fmt.Fprintf(&b, ".PP\n%s\n", roff(para))
	}
	flagSection(&b, "OPTIONS", cmd.NonInheritedFlags())
	flagSection(&b, "GLOBAL OPTIONS", cmd.InheritedFlags())
	if cmd.Example != "" {
		b.WriteString(".SH EXAMPLES\n.PP\n.nf\n")
		for _, l := range strings.Split(cmd.Example, "\n") {
			fmt.Fprintf(&b, "%s\n", roff(strings.TrimSpace(l)))
		}
		b.WriteString(".fi\n")
	}
	var see []string
	if cmd.HasParent() {
		see = append(see, strings.ReplaceAll(cmd.Parent().CommandPath(), " ", "-")+"(1)")
	}
	for _, sub := range cmd.Commands() {
		if !sub.Hidden && sub.Name() != "help" {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-")+"(1)")
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s\n", roff(strings.Join(see, ", ")))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func flagSection(b *strings.Builder, title string, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", title)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		varname, usage := pflag.UnquoteUsage(f)
		head := "\\-\\-" + roff(f.Name)
		if f.Shorthand != "" {
			head = "\\-" + roff(f.Shorthand) + ", " + head
		}
		if varname != "" {
			head += " " + roff(varname)
		}
		fmt.Fprintf(b, ".TP\n\\fB%s\\fR\n%s", head, roff(usage))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			fmt.Fprintf(b, " (default %s)", roff(f.DefValue))
		}
		b.WriteString("\n")
	})
}

// roff escapes text for a roff line: backslashes, and a line that would
// start with a request character.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}
