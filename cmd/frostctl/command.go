package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// command is one frostctl verb, as data: its help, how many positional
// arguments it takes, and setup, which binds its flags and returns what
// runs once cobra has parsed them. A command with subs (symbols, monitor)
// only groups them.
type command struct {
	name string
	// args is the usage of the positional arguments and main flags,
	// after the name ("(--pid N|--kernel) ADDR").
	args    string
	short   string // one line, for the command list
	long    string // what it does, for --help and the man page
	example string // command lines, one per line, without "$ "
	// minPos and maxPos bound the positional arguments (maxPos -1: any).
	minPos, maxPos int
	// vm: the command is about one VM, and refuses to run without --vm
	// or $FROST_VM.
	vm    bool
	setup func(c *cli, fs *pflag.FlagSet) runFunc
	// complete offers values for the positional arguments (VM names,
	// module!symbol); nil offers files.
	complete func(c *cli, cmd *cobra.Command, args []string, toComplete string) []string
	subs     []command
}

// runFunc is a command with its flags parsed: pos holds its positional
// arguments.
type runFunc func(ctx context.Context, pos []string) error

var commands []command

func register(cmds ...command) {
	for _, c := range cmds {
		commands = append(commands, c)
		for _, s := range c.subs {
			subcommands[c.name] = append(subcommands[c.name], s.name)
		}
	}
}

// subcommands lists, for each command that groups others (symbols
// resolve, monitor ntwritefile), their names. The test that runs every
// command through the built binary runs each of them.
var subcommands = map[string][]string{}

// root builds the command tree on c: the global flags (how to reach
// frostd, --vm, --json) persist into every command.
func (c *cli) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "frostctl",
		Short: "the command line of frostd: Windows VM introspection on KVM/QEMU",
		Long: `frostctl drives frostd, Frost's daemon: virsh's verbs for VMs (vms, attach,
pause), WinDbg's for what is inside them (ps, read, break, stack, symbols).

Every command prints a table for people by default, and with --json
JSON for scripts (hex address strings, every field, enum names; one
object per line for streams; --json=proto for the API's own messages).
Commands
about a VM take --vm NAME, default $FROST_VM. Addresses are hex as in
WinDbg (0x optional, a backtick may split the halves).`,
		Example: `  frostctl vms
  frostctl --vm win10 ps
  frostctl read --pid 420 0x7ff612340000 0x100
  frostctl break 'nt!NtWriteFile' --process writer.exe`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// No args: the help, as `frostctl help`. A word that is no
		// command: a usage error naming the nearest.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q (see frostctl help)", args[0])
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return &usageError{msg: msg}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.version {
				return c.printVersion(cmd.Context())
			}
			return cmd.Help()
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetOut(c.out)
	root.SetErr(c.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{msg: err.Error()} })
	pf := root.PersistentFlags()
	c.conn.register(pf)
	pf.Var(jsonForm{c}, "json", "print the API's messages as JSON for scripts (docs/frostctl-json.md), one object per line for streams; --json=proto: protojson's form")
	pf.Lookup("json").NoOptDefVal = "script"
	pf.StringVar(&c.vm, "vm", os.Getenv("FROST_VM"), "the VM (libvirt domain name; default $FROST_VM)")
	root.Flags().BoolVar(&c.version, "version", false, "print frostctl's version, and frostd's and its API's when frostd answers")
	root.RegisterFlagCompletionFunc("vm", c.completeVMs)

	sorted := append([]command(nil), commands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, cmd := range sorted {
		root.AddCommand(c.cobra(cmd))
	}
	root.AddCommand(c.extraCommands()...)
	// cobra's completion command, made now so that it has examples like
	// every other (cobra would make it at Execute).
	root.InitDefaultCompletionCmd()
	for _, cmd := range root.Commands() {
		if cmd.Name() != "completion" {
			continue
		}
		cmd.Example = "  source <(frostctl completion bash)\n  frostctl completion zsh > \"${fpath[1]}/_frostctl\"\n  frostctl completion fish > ~/.config/fish/completions/frostctl.fish"
		for _, sh := range cmd.Commands() {
			sh.Example = "  frostctl completion " + sh.Name() + " > frostctl." + sh.Name()
		}
	}
	return root
}

// cobra turns one command (and its subs) into cobra's.
func (c *cli) cobra(cmd command) *cobra.Command {
	cc := &cobra.Command{
		Use:     strings.TrimSpace(cmd.name + " " + cmd.args),
		Short:   cmd.short,
		Long:    cmd.long,
		Example: indent(cmd.example),
	}
	if cmd.long == "" {
		cc.Long = cmd.short
	}
	for _, s := range cmd.subs {
		cc.AddCommand(c.cobra(s))
	}
	if len(cmd.subs) > 0 {
		cc.Args = func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &usageError{msg: "name a subcommand: " + strings.Join(subcommands[cmd.name], ", ")}
			}
			return &usageError{msg: fmt.Sprintf("unknown %s subcommand %q: the subcommands are %s", cmd.name, args[0], strings.Join(subcommands[cmd.name], ", "))}
		}
		cc.RunE = func(*cobra.Command, []string) error { return nil }
		return cc
	}
	run := cmd.setup(c, cc.Flags())
	cc.Flags().SortFlags = false
	cc.Args = func(_ *cobra.Command, args []string) error {
		if len(args) < cmd.minPos || (cmd.maxPos >= 0 && len(args) > cmd.maxPos) {
			return &usageError{msg: fmt.Sprintf("%s, got %d", wantArgs(cmd.minPos, cmd.maxPos), len(args))}
		}
		return nil
	}
	cc.RunE = func(cb *cobra.Command, args []string) error {
		if cmd.vm && c.vm == "" {
			return fmt.Errorf("no VM named: give --vm NAME or set FROST_VM")
		}
		return run(cb.Context(), args)
	}
	for flag, values := range flagValues[cmd.name] {
		cc.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	if cmd.complete != nil {
		cc.ValidArgsFunction = func(cb *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			names := cmd.complete(c, cb, args, toComplete)
			dir := cobra.ShellCompDirectiveNoFileComp
			for _, n := range names {
				// "ntdll!" is a module: the user goes on typing its symbol.
				if strings.HasSuffix(n, "!") {
					dir |= cobra.ShellCompDirectiveNoSpace
				}
			}
			return names, dir
		}
	}
	return cc
}

// flagValues are the words a command's flags take, for completion.
var flagValues = map[string]map[string][]string{
	"break": {"kind": {"auto", "hardware", "software"}},
	"dump":  {"via": {viaAuto, viaFile, viaLocal, viaStream}, "format": {"elf", "raw"}},
}

func indent(example string) string {
	if example == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(example), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// wantArgs says how many positional arguments a command takes.
func wantArgs(lo, hi int) string {
	switch {
	case hi == 0:
		return "takes no arguments"
	case lo == hi:
		return fmt.Sprintf("takes %d argument(s)", lo)
	case hi < 0:
		return fmt.Sprintf("takes at least %d argument(s)", lo)
	}
	return fmt.Sprintf("takes %d to %d arguments", lo, hi)
}
